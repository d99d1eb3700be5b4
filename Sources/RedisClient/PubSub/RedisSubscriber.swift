import Synchronization

/// A pub/sub connection shared by any number of subscriptions in this process.
///
/// Channels are reference-counted: the first subscription to a channel sends `SUBSCRIBE`, the last one to leave
/// sends `UNSUBSCRIBE`, and the server sees each channel once however many tasks listen. Subscribing and
/// unsubscribing happen while the connection waits for messages (its I/O thread polls the socket and a wake-up
/// fd), so adding a channel never waits for a read timeout.
///
/// When the connection drops (server restart, `CLIENT KILL TYPE pubsub`, a missed keepalive PING), the subscriber
/// reconnects with backoff, resubscribes every channel, and delivers ``RedisSubscriptionEvent/gap`` to the
/// subscriptions on it.
public final class RedisSubscriber: Sendable {
    /// How many undelivered events one subscription buffers.
    public static let bufferLimit = 4096

    let shared: SubscriberShared
    private let loop: IOLoop

    /// Creates a subscriber; it connects when the first channel is subscribed.
    ///
    /// - Parameter pingInterval: how long the connection may stay silent before a keepalive `PING`; a PING not
    ///   answered within the command timeout closes the connection and triggers a reconnect.
    public init(configuration: RedisConfiguration, name: String = "redis-sub", pingInterval: Duration = .seconds(2))
        throws(RedisError)
    {
        try configuration.validate()
        guard pingInterval > .zero else { throw RedisError(.invalidConfiguration, "pingInterval must be positive") }
        shared = SubscriberShared()
        loop = try IOLoop(configuration: configuration, name: name)
        try loop.start(
            driver: SubscriberDriver(
                shared: shared, pingInterval: pingInterval, commandTimeout: configuration.commandTimeout))
    }

    deinit { loop.stop() }

    /// Closes the connection; every subscription's sequence ends and later subscribes fail.
    public func close() {
        loop.stop()
    }

    /// Whether the subscriber is connected and every wanted channel is confirmed by the server.
    public var isSubscribedToAll: Bool {
        shared.state.withLock { state in state.channels.values.allSatisfy(\.confirmed) }
    }

    /// Subscribes to `channels`, waits until the server has confirmed every one of them, then runs `body` with the
    /// subscription's events. Leaving `body` unsubscribes (channels other subscriptions still use stay).
    ///
    /// Because the confirmation is awaited first, anything published after this method calls `body` is delivered:
    /// subscribe, then re-check state, and no wake-up is lost.
    public func subscribe<Value>(
        to channels: [String],
        isolation: isolated (any Actor)? = #isolation,
        _ body: (RedisSubscription) async throws -> Value
    ) async throws -> Value {
        let channels = Array(Set(channels))
        guard !channels.isEmpty else { throw RedisError(.invalidConfiguration, "subscribe needs at least one channel") }
        let (stream, continuation) = AsyncStream.makeStream(
            of: RedisSubscriptionEvent.self, bufferingPolicy: .bufferingNewest(Self.bufferLimit))
        let id = try shared.register(channels: channels, continuation: continuation)
        loop.wake()
        defer {
            shared.unregister(id: id, channels: channels)
            continuation.finish()
            loop.wake()
        }
        try await shared.awaitConfirmation(id: id, channels: channels)
        return try await body(RedisSubscription(channels: channels, stream: stream))
    }
}

/// The state shared by subscribing tasks and the subscriber's I/O thread.
final class SubscriberShared: Sendable {
    struct Channel {
        var subscribers: [UInt64: AsyncStream<RedisSubscriptionEvent>.Continuation] = [:]
        var confirmed = false
    }

    struct ConfirmationWaiter {
        var pending: Set<String>
        var continuation: CheckedContinuation<Void, any Error>?
        var cancelled = false
    }

    struct State {
        var nextID: UInt64 = 0
        var channels: [String: Channel] = [:]
        var waiters: [UInt64: ConfirmationWaiter] = [:]
        var closed = false
        /// Per subscription: events yielded since its last `.gap`, saturating at the buffer limit (absent: none yet).
        var eventsSinceGap: [UInt64: Int] = [:]

        /// Yields `event` to subscription `id`. The stream keeps the newest ``RedisSubscriber/bufferLimit`` events;
        /// when it drops the oldest one and no `.gap` is left among the buffered events, a `.gap` is yielded too, so
        /// a reader that fell behind is always told that it missed messages. (A full buffer holds exactly the last
        /// `bufferLimit` events yielded, so the last gap is still in it when fewer events followed it.)
        mutating func deliver(
            _ event: RedisSubscriptionEvent, to id: UInt64,
            _ continuation: AsyncStream<RedisSubscriptionEvent>.Continuation
        ) {
            let limit = RedisSubscriber.bufferLimit
            let result = continuation.yield(event)
            var since = event == .gap ? 0 : min((eventsSinceGap[id] ?? limit) + 1, limit)
            if case .dropped = result, since >= limit {
                continuation.yield(.gap)
                since = 0
            }
            eventsSinceGap[id] = since
        }
    }

    let state = Mutex(State())

    func register(
        channels: [String], continuation: AsyncStream<RedisSubscriptionEvent>.Continuation
    ) throws(RedisError) -> UInt64 {
        let id: UInt64? = state.withLock { state in
            guard !state.closed else { return nil }
            state.nextID += 1
            for channel in channels {
                state.channels[channel, default: Channel()].subscribers[state.nextID] = continuation
            }
            return state.nextID
        }
        guard let id else { throw RedisError(.clientClosed, "the subscriber was closed") }
        return id
    }

    func unregister(id: UInt64, channels: [String]) {
        state.withLock { state in
            state.waiters[id] = nil
            state.eventsSinceGap[id] = nil
            for channel in channels {
                state.channels[channel]?.subscribers[id] = nil
                if state.channels[channel]?.subscribers.isEmpty == true { state.channels[channel] = nil }
            }
        }
    }

    func awaitConfirmation(id: UInt64, channels: [String]) async throws {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome: Result<Void, RedisError>? = state.withLock { state in
                    if state.closed { return .failure(RedisError(.clientClosed, "the subscriber was closed")) }
                    let pending = Set(channels.filter { state.channels[$0]?.confirmed != true })
                    if pending.isEmpty { return .success(()) }
                    if state.waiters[id]?.cancelled == true {
                        return .failure(RedisError(.cancelled, "subscribing was cancelled"))
                    }
                    state.waiters[id] = ConfirmationWaiter(pending: pending, continuation: continuation)
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let continuation = state.withLock { state in
                let continuation = state.waiters[id]?.continuation
                state.waiters[id] = ConfirmationWaiter(pending: [], continuation: nil, cancelled: true)
                return continuation
            }
            continuation?.resume(throwing: RedisError(.cancelled, "subscribing was cancelled"))
        }
    }
}

/// Drives the subscriber's connection on its I/O thread.
final class SubscriberDriver: IOLoopDriver {
    private let shared: SubscriberShared
    private let pingInterval: Duration
    private let commandTimeout: Duration
    /// Channels a SUBSCRIBE was sent for on the current connection.
    private var sent: Set<String> = []
    /// SUBSCRIBE replies still expected per channel; a channel is confirmed when its count returns to zero.
    private var expectedReplies: [String: Int] = [:]
    /// Channels that were confirmed when the connection dropped: they get a `.gap` once confirmed again.
    private var gapped: Set<String> = []
    /// What each reply still expected on this connection answers, oldest first (every command sent gets exactly
    /// one entry per reply): how a server error reply is matched to the SUBSCRIBE it refuses.
    private var replyQueue: [ExpectedReply] = []
    /// Channels whose SUBSCRIBE the server refused, and when to try again (the subscriptions still wanting them
    /// were resubscribing after a reconnect; new ones are failed with the refusal).
    private var refusedUntil: [String: ContinuousClock.Instant] = [:]
    private static let refusalRetryDelay: Duration = .seconds(1)

    private enum ExpectedReply {
        case subscribe(String)
        case other
    }
    private var lastActivity = ContinuousClock.now
    private var pingSentAt: ContinuousClock.Instant?
    private var reconnectAt: ContinuousClock.Instant?
    private var backoff: Duration = .milliseconds(50)

    init(shared: SubscriberShared, pingInterval: Duration, commandTimeout: Duration) {
        self.shared = shared
        self.pingInterval = pingInterval
        self.commandTimeout = commandTimeout
    }

    func wakeUp(_ loop: IOLoop) {
        synchronize(loop, now: .now)
    }

    /// Brings the server's subscriptions in line with the wanted channels, connecting first when needed.
    private func synchronize(_ loop: IOLoop, now: ContinuousClock.Instant) {
        let (wanted, unconfirmed) = shared.state.withLock { state in
            (Set(state.channels.keys), Set(state.channels.filter { !$0.value.confirmed }.keys))
        }
        if !refusedUntil.isEmpty { refusedUntil = refusedUntil.filter { wanted.contains($0.key) && now < $0.value } }
        if !loop.isConnected {
            guard !wanted.isEmpty else { return }
            if let reconnectAt, now < reconnectAt { return }
            do {
                try loop.connect()
                reconnectAt = nil
                backoff = .milliseconds(50)
                lastActivity = now
                pingSentAt = nil
            } catch {
                reconnectAt = now.advanced(by: backoff)
                backoff = min(backoff * 2, .seconds(1))
                failWaiters(error)
                return
            }
        }
        let toSubscribe = wanted.subtracting(sent).subtracting(refusedUntil.keys)
        let toUnsubscribe = sent.subtracting(wanted)
        do {
            // One SUBSCRIBE per channel (written together all the same): the server refuses a whole command when
            // one of its channels is forbidden, and a refusal must fail only the subscriptions to that channel.
            for channel in toSubscribe {
                try loop.send(RedisCommand("SUBSCRIBE", RedisArgument(channel)))
                expectedReplies[channel, default: 0] += 1
                sent.insert(channel)
                replyQueue.append(.subscribe(channel))
            }
            if !toUnsubscribe.isEmpty {
                var command = RedisCommand("UNSUBSCRIBE")
                for channel in toUnsubscribe { command.append(RedisArgument(channel)) }
                try loop.send(command)
                sent.subtract(toUnsubscribe)
                replyQueue.append(contentsOf: repeatElement(.other, count: toUnsubscribe.count))
            }
        } catch {
            loop.disconnect(error)
            return
        }
        // A channel that was left and subscribed again before this thread sent its UNSUBSCRIBE is still subscribed
        // on the server (it is in `sent`, no SUBSCRIBE reply outstanding), but its new entry is unconfirmed and no
        // SUBSCRIBE goes out for it, so no confirmation would ever come: the new subscriber would wait forever.
        for channel in unconfirmed where sent.contains(channel) && expectedReplies[channel] == nil {
            confirm(channel)
        }
    }

    func received(_ value: RedisValue, _ loop: IOLoop) {
        lastActivity = .now
        pingSentAt = nil
        guard case .array(let parts) = value, let kind = parts.first?.string else {
            if case .error(let message) = value {
                let error = RedisError(.server, message)
                if case .subscribe(let channel) = replyQueue.first {
                    // The server refused this SUBSCRIBE (e.g. ACL NOPERM). Disconnecting to retry, as for other
                    // errors, would be refused again in a tight reconnect loop while the subscriber waited forever:
                    // fail the subscriptions waiting for the channel and retry it later for the ones still on it.
                    replyQueue.removeFirst()
                    refuse(channel, error)
                } else {
                    loop.disconnect(error)
                }
            }
            return
        }
        if kind != "message", !replyQueue.isEmpty { replyQueue.removeFirst() }
        switch kind {
        case "message" where parts.count == 3:
            guard let channel = parts[1].string, let payload = parts[2].bytes else { return }
            // Yielded under the lock, which keeps each subscription's overflow bookkeeping (`deliver`) exact.
            shared.state.withLock { state in
                for (id, subscriber) in state.channels[channel]?.subscribers ?? [:] {
                    state.deliver(.message(channel: channel, payload: payload), to: id, subscriber)
                }
            }
        case "subscribe" where parts.count == 3:
            guard let channel = parts[1].string else { return }
            let remaining = (expectedReplies[channel] ?? 1) - 1
            expectedReplies[channel] = remaining > 0 ? remaining : nil
            guard remaining <= 0, sent.contains(channel) else { return }
            confirm(channel)
        default:
            // "unsubscribe" confirmations and keepalive "pong" replies need no action.
            break
        }
    }

    private func confirm(_ channel: String) {
        let notifyGap = gapped.remove(channel) != nil
        let ready = shared.state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            guard state.channels[channel] != nil else { return [] }
            state.channels[channel]?.confirmed = true
            var ready: [CheckedContinuation<Void, any Error>] = []
            for (id, var waiter) in state.waiters where waiter.pending.contains(channel) {
                waiter.pending.remove(channel)
                if waiter.pending.isEmpty, let continuation = waiter.continuation {
                    ready.append(continuation)
                    state.waiters[id] = nil
                } else {
                    state.waiters[id] = waiter
                }
            }
            if notifyGap {
                for (id, subscriber) in state.channels[channel]!.subscribers { state.deliver(.gap, to: id, subscriber) }
            }
            return ready
        }
        for continuation in ready { continuation.resume() }
    }

    /// Records the server's refusal to subscribe `channel` and fails the subscriptions waiting for it.
    private func refuse(_ channel: String, _ error: RedisError) {
        let remaining = (expectedReplies[channel] ?? 1) - 1
        expectedReplies[channel] = remaining > 0 ? remaining : nil
        if remaining <= 0 {
            sent.remove(channel)
            refusedUntil[channel] = .now.advanced(by: Self.refusalRetryDelay)
        }
        let waiters = shared.state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            var failed: [CheckedContinuation<Void, any Error>] = []
            for (id, waiter) in state.waiters where waiter.pending.contains(channel) {
                if let continuation = waiter.continuation { failed.append(continuation) }
                state.waiters[id] = nil
            }
            return failed
        }
        for waiter in waiters { waiter.resume(throwing: error) }
    }

    func connectionLost(_ error: RedisError, _ loop: IOLoop) {
        let confirmed = shared.state.withLock { state -> Set<String> in
            var confirmed: Set<String> = []
            for key in state.channels.keys where state.channels[key]!.confirmed {
                confirmed.insert(key)
                state.channels[key]!.confirmed = false
            }
            return confirmed
        }
        gapped.formUnion(confirmed)
        sent = []
        expectedReplies = [:]
        replyQueue = []
        pingSentAt = nil
        // Reconnect at once; later attempts back off.
        reconnectAt = .now
    }

    func nextDeadline() -> ContinuousClock.Instant? {
        if let reconnectAt { return reconnectAt }
        var deadline: ContinuousClock.Instant?
        if let pingSentAt {
            deadline = pingSentAt.advanced(by: commandTimeout)
        } else if !sent.isEmpty {
            deadline = lastActivity.advanced(by: pingInterval)
        }
        // Wake up to retry refused channels (`synchronize` runs on every turn of the loop).
        if let retry = refusedUntil.values.min() { deadline = min(deadline ?? retry, retry) }
        return deadline
    }

    func timerFired(_ now: ContinuousClock.Instant, _ loop: IOLoop) {
        if loop.isConnected {
            if let pingSentAt, now >= pingSentAt.advanced(by: commandTimeout) {
                loop.disconnect(RedisError(.timeout, "the subscriber's keepalive PING got no answer"))
            } else if pingSentAt == nil, !sent.isEmpty, now >= lastActivity.advanced(by: pingInterval) {
                do {
                    try loop.send(RedisCommand("PING"))
                    replyQueue.append(.other)
                    pingSentAt = now
                } catch {
                    loop.disconnect(error)
                }
            }
        }
        if !loop.isConnected {
            if reconnectAt == nil { reconnectAt = now }
            synchronize(loop, now: now)
            if loop.isConnected || shared.state.withLock({ $0.channels.isEmpty }) { reconnectAt = nil }
        }
    }

    func stopped() {
        let (waiters, subscribers) = shared.state.withLock { state in
            state.closed = true
            let waiters = state.waiters.values.compactMap(\.continuation)
            let subscribers = state.channels.values.flatMap { $0.subscribers.values }
            state.waiters = [:]
            return (waiters, subscribers)
        }
        for waiter in waiters { waiter.resume(throwing: RedisError(.clientClosed, "the subscriber was closed")) }
        for subscriber in subscribers { subscriber.finish() }
    }

    private func failWaiters(_ error: RedisError) {
        let waiters = shared.state.withLock { state in
            let waiters = state.waiters.values.compactMap(\.continuation)
            for id in state.waiters.keys { state.waiters[id]?.continuation = nil }
            state.waiters = state.waiters.filter { $0.value.cancelled }
            return waiters
        }
        for waiter in waiters { waiter.resume(throwing: error) }
    }
}
