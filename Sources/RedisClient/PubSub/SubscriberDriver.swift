import Synchronization

/// Runs a ``RedisSubscriber``'s connection: feeds the subscribing tasks' and the I/O thread's events to a
/// ``SubscriberStateMachine`` under a lock, and carries out the actions it returns after releasing the lock.
///
/// The ``IOLoopDriver`` methods run on the subscriber's I/O thread; the others are called by subscribing tasks (and,
/// for a cluster, by the layer that moves subscriptions between nodes).
final class SubscriberDriver: IOLoopDriver, Sendable {
    typealias StateMachine = SubscriberStateMachine<SubscriptionSink, CheckedContinuation<Void, any Error>>
    typealias Registration = StateMachine.Registration

    private let state: Mutex<StateMachine>
    private let onMoved: (@Sendable ([String]) -> Void)?

    /// - Parameters:
    ///   - mode: classic or sharded pub/sub.
    ///   - onMoved: sharded mode: called on the I/O thread, outside the lock, with channels this node does not
    ///     serve any more (or, after a failed reconnect, may not), so that the cluster layer moves their
    ///     subscriptions to the owner: ``release(channels:)`` here, then ``adopt(_:)`` on the owner's driver (this
    ///     one again when it still owns them), waking both loops. It may be called again for the same channels.
    init(
        pingInterval: Duration,
        commandTimeout: Duration,
        mode: SubscriberMode = .classic,
        onMoved: (@Sendable ([String]) -> Void)? = nil
    ) {
        state = Mutex(StateMachine(mode: mode, pingInterval: pingInterval, commandTimeout: commandTimeout, now: .now))
        self.onMoved = onMoved
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

    /// Adds a subscription to `channels` (distinct) with an id of the caller's (one id across a cluster's nodes;
    /// do not mix with ``register(channels:sink:)`` on one driver); the caller then wakes the loop.
    func register(channels: [String], sink: SubscriptionSink, id: StateMachine.SubscriptionID) throws(RedisError) {
        _ = try state.withLock { $0.register(channels: channels, sink: sink, id: id, gapped: false) }.get()
    }

    /// Takes `channels` and their subscriptions off this subscriber, to be handed to the node that serves them
    /// with ``adopt(_:)``; the caller then wakes the loop (a channel still subscribed here is unsubscribed).
    ///
    /// A subscription still waiting for a released channel's confirmation is not returned: it fails with
    /// ``RedisError/Code/moved`` and its task subscribes again. The caller must make sure a subscription that
    /// leaves meanwhile unregisters where its channels end up: hold the lock that guards its channel-to-node map
    /// across `release`, `adopt` and the map's update, and across the lookup and `unregister` when leaving.
    func release(channels: [String]) -> [StateMachine.SubscriptionID: Registration] {
        let (registrations, waiters) = state.withLock { $0.release(channels: channels) }
        let error = RedisError(.moved, "the channel moved to another cluster node")
        for waiter in waiters { waiter.resume(throwing: error) }
        return registrations
    }

    /// Takes over subscriptions released by another node's driver (or this one's): each gets a gap once its channels
    /// are confirmed here, at once for channels confirmed already. When this subscriber is closed, their events end.
    /// The caller then wakes the loop.
    func adopt(_ registrations: [StateMachine.SubscriptionID: Registration]) {
        var gapNow: [SubscriptionSink] = []
        var finish: [SubscriptionSink] = []
        state.withLock { machine in
            for (id, registration) in registrations {
                let result = machine.register(
                    channels: registration.channels,
                    sink: registration.sink,
                    id: id,
                    gapped: registration.gapped
                )
                switch result {
                case .success(true): gapNow.append(registration.sink)
                case .success(false): break
                case .failure: finish.append(registration.sink)
                }
            }
        }
        for sink in gapNow { sink.yield(.gap) }
        for sink in finish { sink.finish() }
    }

    /// Whether no subscription wants any channel here.
    var isIdle: Bool {
        state.withLock { $0.channels.isEmpty }
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
        case .moved(let channels, let waiters, let error):
            for waiter in waiters { waiter.resume(throwing: error) }
            onMoved?(channels)
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
