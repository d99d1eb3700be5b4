import Synchronization

/// Runs a ``RedisMonitor``'s connection: sends `MONITOR` once asked to, then forwards every status line.
///
/// ``requestStart(_:)`` is called by the starting task; the ``IOLoopDriver`` methods run on the monitor's I/O thread.
final class MonitorDriver: IOLoopDriver, Sendable {
    private struct State {
        /// The task waiting in ``RedisMonitor/start()``.
        var starting: CheckedContinuation<Result<Void, RedisError>, Never>?
        var sent = false
        var confirmed = false
    }

    private let state = Mutex(State())
    private let lines: AsyncStream<String>.Continuation

    init(lines: AsyncStream<String>.Continuation) {
        self.lines = lines
    }

    /// Asks for `MONITOR`; `continuation` is resumed once the server confirmed it or it failed.
    func requestStart(_ continuation: CheckedContinuation<Result<Void, RedisError>, Never>) {
        state.withLock { $0.starting = continuation }
    }

    func wakeUp(_ loop: IOLoop) {
        guard state.withLock({ !$0.sent && $0.starting != nil }) else { return }
        do {
            try loop.connect()
            try loop.send(RedisCommand("MONITOR"))
            state.withLock { $0.sent = true }
        } catch {
            failStart(error)
        }
    }

    func received(_ value: RedisValue, _ loop: IOLoop) {
        guard case .status(let line) = value else {
            if case .error(let message) = value { failStart(RedisError(.server, message)) }
            return
        }
        let starting = state.withLock { state -> CheckedContinuation<Result<Void, RedisError>, Never>? in
            guard !state.confirmed else { return nil }
            state.confirmed = true
            return state.starting.take()
        }
        if let starting {
            starting.resume(returning: .success(()))
        } else {
            lines.yield(line)
        }
    }

    func connectionLost(_ error: RedisError, _ loop: IOLoop) {
        failStart(error)
        lines.finish()
    }

    func nextDeadline() -> ContinuousClock.Instant? { nil }

    func timerFired(_ now: ContinuousClock.Instant, _ loop: IOLoop) {}

    func stopped() {
        failStart(RedisError(.clientClosed, "the monitor was closed"))
        lines.finish()
    }

    private func failStart(_ error: RedisError) {
        state.withLock { $0.starting.take() }?.resume(returning: .failure(error))
    }
}
