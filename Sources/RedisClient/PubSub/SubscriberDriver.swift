import Synchronization

/// Runs a ``RedisSubscriber``'s connection: feeds the subscribing tasks' and the I/O thread's events to a
/// ``SubscriberStateMachine`` under a lock, and carries out the actions it returns after releasing the lock.
///
/// The ``IOLoopDriver`` methods run on the subscriber's I/O thread; the others are called by subscribing tasks.
final class SubscriberDriver: IOLoopDriver, Sendable {
    typealias StateMachine = SubscriberStateMachine<SubscriptionSink, CheckedContinuation<Void, any Error>>

    private let state: Mutex<StateMachine>

    init(pingInterval: Duration, commandTimeout: Duration) {
        state = Mutex(StateMachine(pingInterval: pingInterval, commandTimeout: commandTimeout, now: .now))
    }

    // MARK: - Subscribing tasks

    /// Whether every wanted channel is confirmed by the server.
    var isSubscribedToAll: Bool {
        state.withLock { $0.isSubscribedToAll }
    }

    /// Adds a subscription to `channels` (distinct) that delivers to `sink`; the caller then wakes the loop.
    func register(channels: [String], sink: SubscriptionSink) throws(RedisError) -> StateMachine.SubscriptionID {
        try state.withLock { $0.register(channels: channels, sink: sink) }.get()
    }

    /// Removes a subscription; the caller then wakes the loop.
    func unregister(id: StateMachine.SubscriptionID, channels: [String]) {
        state.withLock { $0.unregister(id: id, channels: channels) }
    }

    /// Returns once the server has confirmed every one of `channels`; throws when the server refuses one, the
    /// connection cannot be made, the subscriber is closed, or the task is cancelled.
    func awaitConfirmation(id: StateMachine.SubscriptionID, channels: [String]) async throws {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let action = state.withLock { $0.waitForConfirmation(id: id, channels: channels, waiter: continuation) }
                switch action {
                case .wait: break
                case .succeed: continuation.resume()
                case .fail(let error): continuation.resume(throwing: error)
                }
            }
        } onCancel: {
            state.withLock { $0.cancelWaiting(id: id) }?.resume(
                throwing: RedisError(.cancelled, "subscribing was cancelled")
            )
        }
    }

    // MARK: - The I/O thread

    func wakeUp(_ loop: IOLoop) {
        run(state.withLock { $0.synchronize(now: .now) }, loop)
    }

    func received(_ value: RedisValue, _ loop: IOLoop) {
        run(state.withLock { $0.received(value, now: .now) }, loop)
    }

    func connectionLost(_ error: RedisError, _ loop: IOLoop) {
        state.withLock { $0.connectionLost(now: .now) }
    }

    func nextDeadline() -> ContinuousClock.Instant? {
        state.withLock { $0.nextDeadline }
    }

    func timerFired(_ now: ContinuousClock.Instant, _ loop: IOLoop) {
        run(state.withLock { $0.timerFired(now: now) }, loop)
    }

    func stopped() {
        guard case .close(let waiters, let sinks) = state.withLock({ $0.stop() }) else { return }
        close(waiters, sinks)
    }

    private func run(_ action: StateMachine.Action, _ loop: IOLoop) {
        switch action {
        case .none:
            break
        case .connect:
            let next: StateMachine.Action
            do {
                try loop.connect()
                next = state.withLock { $0.connected(now: .now) }
            } catch {
                next = state.withLock { $0.connectFailed(error, now: .now) }
            }
            run(next, loop)
        case .write(let commands):
            do {
                for command in commands { try loop.send(command) }
            } catch {
                loop.disconnect(error)
            }
        case .deliver(let event, let sinks):
            for sink in sinks { sink.yield(event) }
        case .confirmed(let waiters, let sinks):
            for sink in sinks { sink.yield(.gap) }
            for waiter in waiters { waiter.resume() }
        case .fail(let waiters, let error):
            for waiter in waiters { waiter.resume(throwing: error) }
        case .disconnect(let error):
            loop.disconnect(error)
        case .close(let waiters, let sinks):
            close(waiters, sinks)
        }
    }

    private func close(_ waiters: [CheckedContinuation<Void, any Error>], _ sinks: [SubscriptionSink]) {
        let error = RedisError(.clientClosed, "the subscriber was closed")
        for waiter in waiters { waiter.resume(throwing: error) }
        for sink in sinks { sink.finish() }
    }
}
