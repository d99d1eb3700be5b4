import ChildProcesses
import Foundation
import RedisTestSupport

/// Runs the built `refresher` executable.
enum CLI {
    static var executable: URL {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("refresher")
    }

    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    /// Runs `refresher` with `arguments`, feeding `stdin`, and waits (bounded) for it to exit.
    static func run(
        _ arguments: [String],
        stdin: String? = nil,
        environment: [String: String] = [:],
        removing: [String] = [],
        timeout: Duration = .seconds(60)
    ) async throws -> Result {
        try await CLIProcess.run(
            arguments,
            stdin: stdin,
            environment: environment,
            removing: removing,
            timeout: timeout
        )
    }
}

/// A `refresher` process (or another `executable`) and its output.
final class CLIProcess: Sendable {
    private let child: ChildProcess

    /// Starts `refresher arguments` (or another `executable`) with `stdin` as its input, closed after it unless
    /// `holdingInput` (then ``write(_:)`` and ``closeInput()``).
    init(
        _ arguments: [String],
        executable: URL = CLI.executable,
        stdin: String? = nil,
        holdingInput: Bool = false,
        environment: [String: String] = [:],
        removing: [String] = []
    ) async throws {
        child = try await ChildProcess.start(
            .init(
                executable: executable.path,
                arguments: arguments,
                environment: environment,
                removingEnvironment: removing,
                standardInput: .writer
            )
        )
        if let stdin { write(stdin) }
        if !holdingInput { closeInput() }
    }

    /// Writes to the process's stdin, without waiting for the child to read.
    func write(_ text: String) { child.write(text) }

    func closeInput() { child.closeInput() }

    /// Runs `refresher arguments` to its end (bounded).
    static func run(
        _ arguments: [String],
        stdin: String? = nil,
        environment: [String: String] = [:],
        removing: [String] = [],
        timeout: Duration = .seconds(60)
    ) async throws -> CLI.Result {
        let process = try await CLIProcess(arguments, stdin: stdin, environment: environment, removing: removing)
        let status = try await process.waitForExit(timeout: timeout)
        return CLI.Result(status: status, stdout: process.stdout, stderr: process.stderr)
    }

    var stdout: String { child.text(of: .standardOutput) }
    var stderr: String { child.text(of: .standardError) }

    /// Waits (bounded) for watch's `watching <channel>` line: the subscription is confirmed from then on.
    func waitForSubscription() async throws {
        do {
            try await child.waitForLine(on: .standardError, timeout: .seconds(20)) {
                $0.contains("watching refresher:{")
            }
        } catch {
            throw TestSupportError("\(error): \(stderr)")
        }
    }

    /// Waits (bounded) for a line of standard output that contains `text`, and returns it.
    @discardableResult
    func waitForOutput(containing text: String, timeout: Duration = .seconds(20)) async throws -> String {
        do {
            try await child.waitForLine(on: .standardOutput, timeout: timeout) { $0.contains(text) }
        } catch {
            throw TestSupportError("\(error): \(stdout) \(stderr)")
        }
        return stdout.split(separator: "\n").map(String.init).first { $0.contains(text) } ?? ""
    }

    /// Waits (bounded) for the process to exit, its output read to the end, and returns its status (128 + the
    /// signal number if a signal ended it). Kills it after `timeout`.
    func waitForExit(timeout: Duration = .seconds(30)) async throws -> Int32 {
        try await child.wait(timeout: timeout).status
    }

    /// The process id (its `/proc/PID/cmdline` is what `ps` shows).
    var pid: Int32 { child.processIdentifier }

    /// Whether the process has not exited yet.
    var isRunning: Bool { child.isRunning }

    func signal(_ signal: Int32) { child.send(signal) }

    func kill() { child.kill() }
}
