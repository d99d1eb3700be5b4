import Subprocess

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A child process, run with swift-subprocess: its output read to the end and split into lines (the last line too,
/// with or without a newline), its exit awaited without blocking a thread, signals sent through its process
/// descriptor.
///
/// ```swift
/// let server = try await ChildProcess.start(.init(executable: "redis-server", arguments: ["--port", "6390"]))
/// try await server.waitForLine(timeout: .seconds(10)) { $0.contains("Ready to accept connections") }
/// let termination = await server.terminate(grace: .seconds(5))
/// ```
///
/// A handle that goes away kills its child (SIGKILL), so that no test or command leaves one behind.
public final class ChildProcess: Sendable {
    /// The child's process id.
    public let processIdentifier: Int32
    /// The executable's name and first argument, for messages (see ``Configuration/shortDescription``).
    public let name: String
    let monitor: ChildProcessMonitor
    private let input: AsyncStream<String>.Continuation
    private let runner: Task<Void, Never>

    private init(
        processIdentifier: Int32,
        name: String,
        monitor: ChildProcessMonitor,
        input: AsyncStream<String>.Continuation,
        runner: Task<Void, Never>
    ) {
        self.processIdentifier = processIdentifier
        self.name = name
        self.monitor = monitor
        self.input = input
        self.runner = runner
    }

    /// Starts a child and returns once it runs.
    ///
    /// A child that is given input may exit before reading it all: writing to it would then raise `SIGPIPE`, which
    /// this process ignores from then on (children start with the default disposition again).
    public static func start(_ configuration: Configuration) async throws(ChildProcessError) -> ChildProcess {
        let monitor = ChildProcessMonitor()
        let (inputs, input) = AsyncStream.makeStream(of: String.self)
        switch configuration.standardInput {
        case .none:
            input.finish()
        case .text(let text):
            signal(SIGPIPE, SIG_IGN)
            input.yield(text)
            input.finish()
        case .writer:
            signal(SIGPIPE, SIG_IGN)
        }
        let runner = Task { await run(configuration, monitor: monitor, input: inputs) }
        let started = await monitor.wait(timeout: nil) { state in
            state.processIdentifier.map { Result<Int32, ChildProcessError>.success($0) }
                ?? state.failure.map { .failure($0) }
        }
        guard case .value(let result) = started else {
            // Tears the child down if it was spawned.
            runner.cancel()
            if case .cancelled = started {
                throw ChildProcessError(.cancelled, "starting \(configuration.shortDescription) was cancelled")
            }
            throw ChildProcessError(.launchFailed, "\(configuration.shortDescription) was not started")
        }
        return ChildProcess(
            processIdentifier: try result.get(),
            name: configuration.shortDescription,
            monitor: monitor,
            input: input,
            runner: runner
        )
    }

    /// Runs the child to its end inside `Subprocess.run`, which reaps it and closes its descriptors once the body has
    /// returned. The body returns once the output has ended and the child has exited, so that the child can be
    /// signalled, through its process descriptor, until it has exited, even after it closed its output.
    private static func run(
        _ configuration: Configuration,
        monitor: ChildProcessMonitor,
        input: AsyncStream<String>
    ) async {
        var environment: [Environment.Key: String?] = [:]
        for name in configuration.removingEnvironment {
            // A `nil` value unsets the variable; assigning `nil` to the subscript would drop the entry instead.
            environment.updateValue(nil, forKey: Environment.Key(stringLiteral: name))
        }
        for (name, value) in configuration.environment { environment[Environment.Key(stringLiteral: name)] = value }
        let executable: Executable =
            configuration.executable.contains("/")
            ? .path(.init(configuration.executable)) : .name(configuration.executable)
        do {
            let result = try await Subprocess.run(
                executable,
                arguments: Arguments(configuration.arguments),
                environment: .inherit.updating(environment),
                workingDirectory: configuration.workingDirectory.map { .init($0) },
                input: .inputWriter,
                output: .sequence,
                error: .sequence
            ) { execution in
                monitor.started(execution)
                defer { monitor.executionEnded() }
                try await withThrowingTaskGroup(of: Bool.self) { group in
                    group.addTask {
                        try await monitor.read(
                            execution.standardOutput,
                            from: .standardOutput,
                            as: configuration.standardOutput,
                            forwardingTo: configuration.standardOutputForwarder
                        )
                        return true
                    }
                    group.addTask {
                        try await monitor.read(
                            execution.standardError,
                            from: .standardError,
                            as: configuration.standardError,
                            forwardingTo: configuration.standardErrorForwarder
                        )
                        return true
                    }
                    group.addTask {
                        let writer = execution.standardInputWriter
                        // Ends when the input is closed, or when the output has ended (the group is cancelled).
                        for await text in input {
                            guard (try? await writer.write(text)) != nil else { break }
                        }
                        try? await writer.finish()
                        return false
                    }
                    var open = 2
                    while open > 0, let outputEnded = try await group.next() {
                        if outputEnded { open -= 1 }
                    }
                    group.cancelAll()
                }
                await ChildProcessExit.wait(for: execution.processIdentifier.value)
            }
            switch result.terminationStatus {
            case .exited(let code): monitor.finish(.exited(code))
            case .signaled(let signal): monitor.finish(.signaled(signal))
            }
        } catch {
            let started = monitor.withState { $0.processIdentifier != nil }
            monitor.fail(
                started
                    ? ChildProcessError(
                        .outputFailed,
                        "reading the output of \(configuration.shortDescription) failed: \(error)"
                    )
                    : ChildProcessError(
                        .launchFailed,
                        "\(configuration.shortDescription) could not be started: \(error)"
                    )
            )
        }
    }

    deinit {
        if isRunning { kill() }
    }

    // MARK: - State

    /// Whether the child has not finished yet (it has not exited, or its output has not been read to the end).
    public var isRunning: Bool { !monitor.withState(\.isFinished) }

    /// How the child ended, once it has and its output has been read.
    public var termination: Termination? { monitor.withState(\.termination) }

    /// The lines the child has written to `stream` so far (collected streams only), without their newlines.
    public func lines(of stream: Stream = .standardOutput) -> [String] {
        monitor.withState { $0.lines(of: stream) }
    }

    /// The text the child has written to `stream` so far (collected streams only), a line being written included.
    public func text(of stream: Stream = .standardOutput) -> String {
        monitor.withState { $0.text(of: stream) }
    }

    // MARK: - Input

    /// Sends `text` to the child's standard input (started with ``Input/writer``); written in order, without waiting.
    public func write(_ text: String) {
        input.yield(text)
    }

    /// Closes the child's standard input once everything written before has been sent.
    public func closeInput() {
        input.finish()
    }

    // MARK: - Signals

    /// Sends `signal` (`SIGTERM`, `SIGINT`, `SIGSTOP`, ...) to the child, also after it closed its output; whether
    /// it was sent. `false` once the child has exited: a signal never reaches another process that reuses its pid.
    @discardableResult
    public func send(_ signal: Int32) -> Bool {
        monitor.send(signal)
    }

    /// Kills the child (`SIGKILL`).
    public func kill() {
        if !monitor.send(SIGKILL) {
            // Cancelling `Subprocess.run` tears the child down (SIGKILL) for as long as it has not been reaped.
            runner.cancel()
        }
    }
}
