import Synchronization

/// A `MONITOR` connection: every command the server executes, as the server's text lines
/// (`1732838400.123456 [0 127.0.0.1:50012] "evalsha" "..."`; commands run by scripts show `[0 lua]`).
///
/// For benchmarks and debugging: `MONITOR` slows the server down, and its lines contain command arguments, so never
/// point it at a production server whose commands carry secrets.
package final class RedisMonitor: Sendable {
    private let loop: IOLoop
    private let driver: MonitorShared

    /// The lines, from the moment ``start()`` returns until ``close()``.
    package let lines: AsyncStream<String>

    package init(configuration: RedisConfiguration) throws(RedisError) {
        try configuration.validate()
        let (stream, continuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .unbounded)
        lines = stream
        driver = MonitorShared(continuation: continuation)
        loop = try IOLoop(configuration: configuration, name: "redis-monitor")
        try loop.start(driver: MonitorDriver(shared: driver))
    }

    deinit { loop.stop() }

    /// Connects and sends `MONITOR`; returns once the server confirmed it, so every later command is seen.
    package func start() async throws(RedisError) {
        let result: Result<Void, RedisError> = await withCheckedContinuation { continuation in
            driver.state.withLock { $0.started = continuation }
            loop.wake()
        }
        try result.get()
    }

    /// Stops monitoring; ``lines`` ends.
    package func close() {
        loop.stop()
    }
}

/// State shared between ``RedisMonitor`` and its I/O thread.
final class MonitorShared: Sendable {
    struct State {
        var started: CheckedContinuation<Result<Void, RedisError>, Never>?
        var confirmed = false
    }
    let state = Mutex(State())
    let continuation: AsyncStream<String>.Continuation

    init(continuation: AsyncStream<String>.Continuation) {
        self.continuation = continuation
    }
}

/// Sends `MONITOR` once connected and forwards every status line.
final class MonitorDriver: IOLoopDriver {
    private let shared: MonitorShared
    private var sent = false

    init(shared: MonitorShared) {
        self.shared = shared
    }

    func wakeUp(_ loop: IOLoop) {
        guard !sent, shared.state.withLock({ $0.started != nil }) else { return }
        do {
            try loop.connect()
            try loop.send(RedisCommand("MONITOR"))
            sent = true
        } catch {
            shared.state.withLock { $0.started.take() }?.resume(returning: .failure(error))
        }
    }

    func received(_ value: RedisValue, _ loop: IOLoop) {
        guard case .status(let line) = value else {
            if case .error(let message) = value {
                shared.state.withLock { $0.started.take() }?.resume(returning: .failure(RedisError(.server, message)))
            }
            return
        }
        let starting = shared.state.withLock { state -> CheckedContinuation<Result<Void, RedisError>, Never>? in
            guard !state.confirmed else { return nil }
            state.confirmed = true
            return state.started.take()
        }
        if let starting {
            starting.resume(returning: .success(()))
        } else {
            shared.continuation.yield(line)
        }
    }

    func connectionLost(_ error: RedisError, _ loop: IOLoop) {
        shared.state.withLock { $0.started.take() }?.resume(returning: .failure(error))
        shared.continuation.finish()
    }

    func nextDeadline() -> ContinuousClock.Instant? { nil }
    func timerFired(_ now: ContinuousClock.Instant, _ loop: IOLoop) {}

    func stopped() {
        shared.state.withLock { $0.started.take() }?.resume(
            returning: .failure(RedisError(.clientClosed, "the monitor was closed")))
        shared.continuation.finish()
    }
}
