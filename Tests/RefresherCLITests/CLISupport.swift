import Foundation
import RedisTestSupport
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

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
        _ arguments: [String], stdin: String? = nil, environment: [String: String] = [:], removing: [String] = [],
        timeout: Duration = .seconds(60)
    ) async throws -> Result {
        try await CLIProcess.run(
            arguments, stdin: stdin, environment: environment, removing: removing, timeout: timeout)
    }
}

/// A `refresher` process, its output collected by reader threads of its own.
///
/// Reader threads, not readability handlers: Foundation's handlers miss the end-of-file of a pipe now and then when
/// processes run
/// concurrently (about a third of 200 concurrent runs of `sh -c 'echo out; echo err >&2'` never saw EOF within 3 s),
/// so it times out in a parallel suite. A thread blocked in `read` always sees EOF, and blocking reads stay off the
/// cooperative pool, which the test's awaits need.
///
/// `@unchecked Sendable`: `Process` is thread-safe for the calls made here (`isRunning`, `terminationStatus`,
/// `processIdentifier`); the output is behind a mutex.
final class CLIProcess: @unchecked Sendable {
    private let process: Process
    private let input: FileHandle
    private let output = Mutex<(stdout: Data, stderr: Data, closed: Int)>((Data(), Data(), 0))

    /// Starts `refresher arguments` (or another `executable`) with `stdin` as its input, closed after it unless
    /// `holdingInput` (then ``write(_:)`` and ``closeInput()``).
    init(
        _ arguments: [String], executable: URL = CLI.executable, stdin: String? = nil, holdingInput: Bool = false,
        environment extra: [String: String] = [:], removing: [String] = []
    ) throws {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        for (key, value) in extra { environment[key] = value }
        for key in removing { environment[key] = nil }
        process.environment = environment
        let out = Pipe()
        let err = Pipe()
        let input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        self.process = process
        self.input = input.fileHandleForWriting
        try process.run()
        for (pipe, isStdout) in [(out, true), (err, false)] {
            let handle = pipe.fileHandleForReading
            Thread.detachNewThread {
                while true {
                    let chunk = handle.availableData
                    if chunk.isEmpty { return self.output.withLock { $0.closed += 1 } }
                    self.output.withLock { if isStdout { $0.stdout.append(chunk) } else { $0.stderr.append(chunk) } }
                }
            }
        }
        if let stdin { write(stdin) }
        if !holdingInput { closeInput() }
    }

    /// Writes to the process's stdin. Small inputs fit the pipe buffer: this does not wait for the child to read.
    func write(_ text: String) { input.write(Data(text.utf8)) }

    func closeInput() { try? input.close() }

    /// Runs `refresher arguments` to its end (bounded).
    static func run(
        _ arguments: [String], stdin: String? = nil, environment: [String: String] = [:], removing: [String] = [],
        timeout: Duration = .seconds(60)
    ) async throws -> CLI.Result {
        let process = try CLIProcess(arguments, stdin: stdin, environment: environment, removing: removing)
        defer { process.kill() }
        let status = try await process.waitForExit(timeout: timeout)
        return CLI.Result(status: status, stdout: process.stdout, stderr: process.stderr)
    }

    var stdout: String { output.withLock { String(decoding: $0.stdout, as: UTF8.self) } }
    var stderr: String { output.withLock { String(decoding: $0.stderr, as: UTF8.self) } }

    /// Waits (bounded) for watch's `watching <channel>` line: the subscription is confirmed from then on.
    func waitForSubscription() async throws {
        try await waitUntil(timeout: .seconds(20), "watch confirms its subscription") {
            if !self.process.isRunning { throw TestSupportError("watch exited early: \(self.stderr)") }
            return self.stderr.contains("watching refresher:{")
        }
    }

    /// Waits (bounded) for the process to exit and returns its status, with its output fully read.
    func waitForExit(timeout: Duration = .seconds(30)) async throws -> Int32 {
        try await waitUntil(timeout: timeout, "refresher \(process.arguments?.first ?? "") exits, output read") {
            !self.process.isRunning && self.output.withLock { $0.closed == 2 }
        }
        return process.terminationStatus
    }

    /// The process id (its `/proc/PID/cmdline` is what `ps` shows).
    var pid: Int32 { process.processIdentifier }

    /// Whether the process has not exited yet.
    var isRunning: Bool { process.isRunning }

    func signal(_ signal: Int32) { Glibc.kill(process.processIdentifier, signal) }

    func kill() {
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
    }
}
