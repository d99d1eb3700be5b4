import ArgumentParser
import Foundation

/// Flags that fall back to environment variables (`--tasks` or `TASKS`), for workers started by orchestrators.
enum Environment {
    static func string(_ flag: String?, _ variable: String) -> String? {
        flag ?? ProcessInfo.processInfo.environment[variable]
    }

    static func int(_ flag: Int?, _ variable: String, default fallback: Int) throws -> Int {
        try int(flag, variable) ?? fallback
    }

    static func int(_ flag: Int?, _ variable: String) throws -> Int? {
        if let flag { return flag }
        guard let text = ProcessInfo.processInfo.environment[variable] else { return nil }
        guard let value = Int(text) else { throw CLIError("\(variable) must be an integer, got '\(text.prefix(40))'") }
        return value
    }

    /// One of the values of an option type, such as `COORDINATION=none`.
    static func value<Value: ExpressibleByArgument & CaseIterable>(
        _ flag: Value?,
        _ variable: String,
        default fallback: Value
    ) throws -> Value {
        if let flag { return flag }
        guard let text = ProcessInfo.processInfo.environment[variable] else { return fallback }
        guard let value = Value(argument: text) else {
            let values = Value.allValueStrings.joined(separator: ", ")
            throw CLIError("\(variable) must be one of \(values), got '\(Operator.printable(String(text.prefix(40))))'")
        }
        return value
    }

    static func double(_ flag: Double?, _ variable: String) throws -> Double? {
        if let flag { return flag }
        guard let text = ProcessInfo.processInfo.environment[variable] else { return nil }
        guard let value = Double(text), value.isFinite else {
            throw CLIError("\(variable) must be a number, got '\(text.prefix(40))'")
        }
        return value
    }
}

/// Wall-clock Unix time in seconds.
func unixSeconds() -> Double { Date().timeIntervalSince1970 }

/// Sleeps until the Unix time `instant` (returns at once if it passed).
func sleep(untilUnix instant: Double) async throws {
    let delay = instant - unixSeconds()
    if delay > 0 { try await Task.sleep(for: .milliseconds(Int64(delay * 1000))) }
}
