import Foundation
import RedisRefresher

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Formatting and I/O helpers shared by the operator commands (`status`, `watch`, `release`, `session put`).
enum Operator {
    /// `2025-01-31T12:00:00.123Z`: absolute times in UTC, so output from different machines compares directly.
    static func utc(milliseconds: Int64) -> String {
        timestamp(milliseconds, gmtime_r, format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ")
    }

    /// `2025-01-31 13:00:00.123`: the local wall clock, for a live event log read by a person at this terminal.
    static func localTimestamp(milliseconds: Int64) -> String {
        timestamp(milliseconds, localtime_r, format: "%04d-%02d-%02d %02d:%02d:%02d.%03d")
    }

    /// Breaks `milliseconds` down with `convert` (`gmtime_r` or `localtime_r`) and formats the seven fields.
    private static func timestamp(
        _ milliseconds: Int64,
        _ convert: (UnsafePointer<time_t>?, UnsafeMutablePointer<tm>?) -> UnsafeMutablePointer<tm>?,
        format: String
    ) -> String {
        var seconds = time_t(milliseconds.floorDivided(by: 1000))
        var parts = tm()
        _ = convert(&seconds, &parts)
        return String(
            format: format,
            Int(parts.tm_year) + 1900,
            Int(parts.tm_mon) + 1,
            Int(parts.tm_mday),
            Int(parts.tm_hour),
            Int(parts.tm_min),
            Int(parts.tm_sec),
            Int(milliseconds.floorModulo(1000))
        )
    }

    /// A duration for people: `850 ms`, `4.2 s`, `42 s`, `12 min 5 s`, `3 h 20 min`, `2 d 4 h`.
    static func span(milliseconds: Int64) -> String {
        let ms = milliseconds.magnitude
        switch ms {
        case ..<1000: return "\(ms) ms"
        case ..<10_000: return String(format: "%.1f s", Double(ms) / 1000)
        case ..<120_000: return "\(ms / 1000) s"
        case ..<7_200_000: return "\(ms / 60_000) min \(ms / 1000 % 60) s"
        case ..<172_800_000: return "\(ms / 3_600_000) h \(ms / 60_000 % 60) min"
        default: return "\(ms / 86_400_000) d \(ms / 3_600_000 % 24) h"
        }
    }

    /// `in 42 s` / `42 s ago`, for `time` relative to `now` (both ms since epoch, same clock).
    static func relative(_ time: Int64, to now: Int64) -> String {
        time >= now ? "in \(span(milliseconds: time - now))" : "\(span(milliseconds: now - time)) ago"
    }

    /// One-line JSON with sorted keys, so scripts and diffs see a stable shape.
    static func json<Value: Encodable>(_ value: Value) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return String(decoding: try encoder.encode(value), as: UTF8.self)
        } catch {
            throw CLIError("cannot encode the JSON output")
        }
    }

    /// `key  value` lines with the values aligned in one column.
    static func table(_ rows: [(String, String)]) -> [String] {
        let width = rows.map(\.0.count).max() ?? 0
        return rows.map { key, value in key.padding(toLength: width + 2, withPad: " ", startingAt: 0) + value }
    }

    /// Whether standard input is a terminal (a person who can answer a question), not a pipe or file.
    static var stdinIsTerminal: Bool { isatty(STDIN_FILENO) == 1 }

    /// Replaces control characters, so text that came from Redis cannot forge extra output lines or move the cursor.
    static func printable(_ text: String) -> String {
        String(
            String.UnicodeScalarView(text.unicodeScalars.map { $0.properties.generalCategory == .control ? "?" : $0 })
        )
    }

    /// Runs `body`, naming the (password-redacted) server in "Redis unavailable" errors: the first thing an operator
    /// checks is whether the command talked to the right Redis.
    static func talkingTo<Value>(
        _ configuration: RedisConfiguration,
        _ body: () async throws -> Value
    ) async throws -> Value {
        do {
            return try await body()
        } catch let error as RefresherError
            where error.code == .redisUnavailable || error.redisError?.code == .authenticationFailed
        {
            throw CLIError("\(oneLine(error.message)) (\(configuration.redactedDescription))")
        } catch let error as RedisError where error.isConnectionError {
            throw CLIError("Redis unavailable: \(oneLine(error.message)) (\(configuration.redactedDescription))")
        } catch let error as RedisError where error.code == .authenticationFailed {
            throw CLIError(
                "Redis refused the credentials: \(oneLine(error.message)) (\(configuration.redactedDescription))"
            )
        }
    }

    /// `text` on one line.
    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).joined(separator: "; ")
    }
}

extension SessionOptions {
    /// The parsed Redis configuration, with the password from `REDIS_PASSWORD` or a password file when given and a
    /// client name that shows up in `CLIENT LIST`.
    func redisConfiguration(clientName: String) throws -> RedisConfiguration {
        try redis.configuration(clientName: clientName)
    }

    /// A command connection plus the admin helper of the session.
    func admin(clientName: String) throws -> SessionAdmin {
        let keys = try keys()
        let configuration = try redisConfiguration(clientName: clientName)
        do {
            return SessionAdmin(connection: try RedisConnection(configuration: configuration), keys: keys)
        } catch {
            throw CLIError("bad Redis URL: \(error.message)")
        }
    }
}

extension Int64 {
    fileprivate func floorDivided(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor < 0) ? quotient - 1 : quotient
    }

    fileprivate func floorModulo(_ divisor: Int64) -> Int64 {
        let remainder = self % divisor
        return remainder < 0 ? remainder + divisor : remainder
    }
}
