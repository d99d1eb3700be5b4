import Subprocess
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One child's state, shared by its ``ChildProcess`` handle and the task that runs it.
final class ChildProcessMonitor: Sendable {
    private let state = Mutex(ChildProcessState())
    /// Sends a signal to the child while its `Execution` is valid (from spawn until its output ends), `nil` otherwise.
    /// Signals are sent under this lock: the body that clears it cannot return, and the process descriptor the
    /// signal goes through cannot be closed, while a signal is on its way.
    private let signaller = Mutex<(@Sendable (Int32) -> Bool)?>(nil)

    func withState<T>(_ body: (ChildProcessState) -> T) -> T {
        state.withLock { body($0) }
    }

    /// What ``wait(timeout:until:)`` found.
    enum Awaited<Value: Sendable>: Sendable {
        case value(Value)
        /// The child finished without the condition holding.
        case finished
        case timedOut
    }

    /// Waits until `condition` returns a value, the child finishes without it, or `timeout` passes. The condition is
    /// checked under the lock, on every change.
    func wait<Value: Sendable>(
        timeout: Duration?,
        until condition: @escaping @Sendable (ChildProcessState) -> Value?
    ) async -> Awaited<Value> {
        let (changes, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let (id, wakeup) = state.withLock { $0.watch(continuation) }
        wakeup.run()
        defer { state.withLock { $0.unwatch(id) } }
        return await withTaskGroup(of: Awaited<Value>.self) { group in
            group.addTask {
                for await _ in changes {
                    if let value = self.state.withLock({ condition($0) }) { return .value(value) }
                }
                return Task.isCancelled ? .timedOut : .finished
            }
            if let timeout {
                group.addTask {
                    try? await Task.sleep(for: timeout)
                    return .timedOut
                }
            }
            let first = await group.next() ?? .timedOut
            group.cancelAll()
            return first
        }
    }

    // MARK: - Called by the running task

    func started<Input, Output, Error>(_ execution: Execution<Input, Output, Error>) {
        signaller.withLock { signaller in
            signaller = { signal in (try? execution.send(signal: Signal(rawValue: signal))) != nil }
        }
        state.withLock { $0.started(processIdentifier: execution.processIdentifier.value) }.run()
    }

    /// The child's output has ended: its `Execution` is about to become invalid.
    func outputEnded() {
        signaller.withLock { $0 = nil }
    }

    func read(
        _ sequence: SubprocessOutputSequence,
        from stream: ChildProcess.Stream,
        as output: ChildProcess.Output
    ) async throws {
        for try await buffer in sequence {
            let bytes = buffer.withUnsafeBytes { Array($0) }
            switch output {
            case .collect: state.withLock { $0.append(bytes, to: stream) }.run()
            case .discard: break
            case .forward: Self.forward(bytes, to: stream == .standardOutput ? STDOUT_FILENO : STDERR_FILENO)
            }
        }
        state.withLock { $0.endOutput(stream) }.run()
    }

    func finish(_ termination: ChildProcess.Termination) {
        state.withLock { $0.finish(termination) }.run()
    }

    func fail(_ failure: ChildProcessError) {
        state.withLock { $0.fail(failure) }.run()
    }

    // MARK: - Called by the handle

    /// Sends `signal` if the child's output is still open; whether it was sent.
    func send(_ signal: Int32) -> Bool {
        signaller.withLock { $0?(signal) ?? false }
    }

    /// Forwarded output: small chunks, written whole, like `print`.
    private static func forward(_ chunk: [UInt8], to descriptor: Int32) {
        var bytes = chunk[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if written < 0, errno == EINTR { continue }
            guard written > 0 else { return }
            bytes = bytes.dropFirst(written)
        }
    }
}
