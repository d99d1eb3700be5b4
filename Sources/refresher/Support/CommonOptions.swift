import ArgumentParser
import Foundation
import RedisRefresher

/// Where the session lives: the Redis URL, the session name and the key prefix.
struct SessionOptions: ParsableArguments {
    @OptionGroup var redis: RedisOptions<LocalRedis>

    @Option(name: .long, help: "The session name (default: $SESSION).")
    var session: String?

    @Option(name: .long, help: "The key prefix.")
    var prefix: String = "refresher"

    /// The validated session name.
    func sessionName() throws -> SessionName {
        guard let name = session ?? ProcessInfo.processInfo.environment["SESSION"] else {
            throw CLIError("no session given: use --session NAME or set SESSION")
        }
        return try SessionName(name)
    }

    /// The keys of the session.
    func keys() throws -> SessionKeys {
        do {
            _ = try SessionName(prefix)
        } catch {
            throw CLIError("the key prefix: \(error.message)")
        }
        return SessionKeys(prefix: prefix, session: try sessionName())
    }
}

/// A one-line error for the user: printed as `refresher: error: <message>`, exit code 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Writes a line to standard error.
func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Writes a line to standard output at once (unbuffered), so a parent process sees it even if this one is killed.
func emit(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
