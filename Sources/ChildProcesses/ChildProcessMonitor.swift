import Subprocess
import Synchronization

/// One child's state, shared by its ``ChildProcess`` handle and the task that runs it.
final class ChildProcessMonitor: Sendable {
    private let state = Mutex(ChildProcessState())
    /// Sends a signal to the child while its `Execution` is valid, `nil` otherwise: from spawn until the child has
    /// exited, since the body of `Subprocess.run` waits for its exit before returning, and the child is reaped (its pid
    /// free for reuse) and its process descriptor closed only after the body returns. Signals are sent under this
    /// lock, so the body cannot return while one is on its way.
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
        /// The waiting task was cancelled.
        case cancelled
    }

    /// Waits until `condition` returns a value, the child finishes without it, `timeout` passes, or the calling task
    /// is cancelled. The condition is checked by the calling task, under the lock, once at first and then after every
    /// change, so it may keep state of its own between checks.
    func wait<Value: Sendable>(
        timeout: Duration?,
        until condition: (ChildProcessState) -> Value?
    ) async -> Awaited<Value> {
        let (changes, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let (id, wakeup) = state.withLock { $0.watch(continuation) }
        wakeup.run()
        defer { state.withLock { $0.unwatch(id) } }
        return await withTaskGroup(of: Void.self) { group in
            if let timeout {
                // The timeout ends the stream of changes; cancellation ends it too (and the sleep).
                group.addTask {
                    guard (try? await Task.sleep(for: timeout)) != nil else { return }
                    continuation.finish()
                }
            }
            defer { group.cancelAll() }
            for await _ in changes {
                if let value = state.withLock({ condition($0) }) { return .value(value) }
            }
            if state.withLock(\.isFinished) { return .finished }
            return Task.isCancelled ? .cancelled : .timedOut
        }
    }

    // MARK: - Called by the running task

    func started<Input, Output, Error>(_ execution: Execution<Input, Output, Error>) {
        signaller.withLock { signaller in
            signaller = { signal in (try? execution.send(signal: Signal(rawValue: signal))) != nil }
        }
        state.withLock { $0.started(processIdentifier: execution.processIdentifier.value) }.run()
    }

    /// The body of `Subprocess.run` is returning (the child has exited, or the run failed): its `Execution` is about
    /// to become invalid.
    func executionEnded() {
        signaller.withLock { $0 = nil }
    }

    func read(
        _ sequence: SubprocessOutputSequence,
        from stream: ChildProcess.Stream,
        as output: ChildProcess.Output,
        forwardingTo forwarder: OutputForwarder
    ) async throws {
        for try await buffer in sequence {
            let bytes = buffer.withUnsafeBytes { Array($0) }
            switch output {
            case .collect: state.withLock { $0.append(bytes, to: stream) }.run()
            case .discard: break
            case .forward: await forwarder.forward(bytes)
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

    /// Sends `signal` if the child has not exited yet; whether it was sent.
    func send(_ signal: Int32) -> Bool {
        signaller.withLock { $0?(signal) ?? false }
    }
}
