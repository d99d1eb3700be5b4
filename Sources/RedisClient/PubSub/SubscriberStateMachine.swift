/// The bookkeeping of a ``RedisSubscriber``: which channels its subscriptions want, which of them the server has
/// confirmed, who waits for a confirmation, and the state of the connection that carries them.
///
/// Every event is a `mutating` method that returns what to do; the caller holds the lock around the call and carries
/// out the returned action after releasing it (``SubscriberDriver``). The machine does no I/O and reads no clock, so
/// it is tested without a server. It is generic over what it hands back: a subscription's sink (`Sink`, which
/// receives events) and a task waiting for its channels' confirmation (`Waiter`).
///
/// Channels are reference-counted: the first subscription to a channel makes the connection send `SUBSCRIBE`, the
/// last one to leave makes it send `UNSUBSCRIBE`. A lost connection is re-established at once and then with backoff;
/// every channel is subscribed again, and the subscriptions to a channel that was confirmed before the loss get a
/// ``RedisSubscriptionEvent/gap`` when it is confirmed again.
struct SubscriberStateMachine<Sink, Waiter> {
    typealias SubscriptionID = UInt64
    typealias Instant = ContinuousClock.Instant

    /// The first delay between failed connection attempts; it doubles up to ``maximumBackoff``.
    static var initialBackoff: Duration { .milliseconds(50) }
    /// The longest delay between failed connection attempts.
    static var maximumBackoff: Duration { .seconds(1) }
    /// How long a channel whose `SUBSCRIBE` the server refused waits before it is tried again.
    static var refusalRetryDelay: Duration { .seconds(1) }

    /// One channel that at least one subscription wants.
    struct Channel {
        var sinks: [SubscriptionID: Sink] = [:]
        /// Whether the server confirmed the channel on the current connection.
        var confirmed = false
    }

    /// A subscription waiting until the server has confirmed its channels.
    enum Confirmation {
        case waiting(pending: Set<String>, Waiter)
        /// The waiting task was cancelled; a later wait fails at once.
        case cancelled
    }

    /// Where the connection stands.
    enum Phase: Equatable {
        /// No connection. `reconnectAt` is when to try again (`nil`: as soon as a channel is wanted); `backoff` is
        /// the delay after the next failed attempt.
        case disconnected(reconnectAt: Instant?, backoff: Duration)
        /// Connected; ``Session`` holds what was sent on this connection.
        case connected
        /// The subscriber was closed; nothing happens any more.
        case closed
    }

    /// What one reply still expected on the current connection answers.
    enum ExpectedReply: Equatable {
        case subscribe(String)
        case other
    }

    /// What was sent on the current connection, reset when it is lost.
    struct Session {
        /// Channels a `SUBSCRIBE` was sent for (and no `UNSUBSCRIBE` since).
        var sent: Set<String> = []
        /// `SUBSCRIBE` replies still expected per channel; a channel is confirmed when its count returns to zero.
        var expectedReplies: [String: Int] = [:]
        /// What each reply still expected answers, oldest first (one entry per reply of every command sent): how a
        /// server error reply is matched to the `SUBSCRIBE` it refuses.
        var replies: [ExpectedReply] = []
        var lastActivity: Instant
        /// When the unanswered keepalive `PING` was sent.
        var pingSentAt: Instant?
    }

    /// What the I/O thread does after an event.
    enum Action {
        case none
        /// Connect (blocking), then report ``connected(now:)`` or ``connectFailed(_:now:)``.
        case connect
        /// Write these commands on the connection; a failure to write closes it.
        case write([RedisCommand])
        /// Hand `event` to these sinks.
        case deliver(RedisSubscriptionEvent, to: [Sink])
        /// Channels were confirmed: hand a ``RedisSubscriptionEvent/gap`` to `gapTo` (subscriptions to channels
        /// that were confirmed before the connection was lost), then resume `resume` (all their channels are now
        /// confirmed).
        case confirmed(resume: [Waiter], gapTo: [Sink])
        /// Fail these waiting subscriptions with `error`.
        case fail([Waiter], RedisError)
        /// Close the connection because of `error`; the loop then reports ``connectionLost(now:)``.
        case disconnect(RedisError)
        /// The subscriber was closed: fail the waiting subscriptions and end every subscription's events.
        case close(fail: [Waiter], finish: [Sink])
    }

    /// How long the connection may stay silent before a keepalive `PING`.
    let pingInterval: Duration
    /// How long a keepalive `PING` may wait for its answer before the connection is closed.
    let commandTimeout: Duration

    private(set) var channels: [String: Channel] = [:]
    private var confirmations: [SubscriptionID: Confirmation] = [:]
    private var nextID: SubscriptionID = 0
    private(set) var phase: Phase = .disconnected(reconnectAt: nil, backoff: Self.initialBackoff)
    private var session: Session
    /// Channels that were confirmed when the connection was lost: their subscriptions get a gap once they are
    /// confirmed again.
    private var gapped: Set<String> = []
    /// Channels whose `SUBSCRIBE` the server refused, and when to try them again.
    private var refusedUntil: [String: Instant] = [:]

    init(pingInterval: Duration, commandTimeout: Duration, now: Instant) {
        self.pingInterval = pingInterval
        self.commandTimeout = commandTimeout
        self.session = Session(lastActivity: now)
    }

    /// Whether every wanted channel is confirmed by the server.
    var isSubscribedToAll: Bool {
        channels.values.allSatisfy(\.confirmed)
    }

    // MARK: - Subscribing tasks

    /// A new subscription to `channels` (distinct), delivering to `sink`; fails when the subscriber is closed.
    mutating func register(channels: [String], sink: Sink) -> Result<SubscriptionID, RedisError> {
        if case .closed = phase { return .failure(RedisError(.clientClosed, "the subscriber was closed")) }
        nextID += 1
        for channel in channels {
            // A channel left and wanted again before its UNSUBSCRIBE went out is still subscribed on the server:
            // no SUBSCRIBE will be sent for it, so no confirmation would come. It is confirmed already.
            let isSubscribed = session.sent.contains(channel) && session.expectedReplies[channel] == nil
            self.channels[channel, default: Channel(confirmed: isSubscribed)].sinks[nextID] = sink
        }
        return .success(nextID)
    }

    /// Subscription `id` left: its channels that no other subscription wants will be unsubscribed.
    mutating func unregister(id: SubscriptionID, channels: [String]) {
        confirmations[id] = nil
        for channel in channels {
            self.channels[channel]?.sinks[id] = nil
            if self.channels[channel]?.sinks.isEmpty == true { self.channels[channel] = nil }
        }
    }

    /// What a subscription waiting for its channels' confirmation does now.
    enum WaitAction: Equatable {
        /// Keep waiting; the waiter is resumed by a later action.
        case wait
        case succeed
        case fail(RedisError)
    }

    /// Subscription `id` waits until the server has confirmed `channels`.
    mutating func waitForConfirmation(id: SubscriptionID, channels: [String], waiter: Waiter) -> WaitAction {
        if case .closed = phase { return .fail(RedisError(.clientClosed, "the subscriber was closed")) }
        let pending = Set(channels.filter { self.channels[$0]?.confirmed != true })
        if pending.isEmpty { return .succeed }
        if case .cancelled = confirmations[id] { return .fail(RedisError(.cancelled, "subscribing was cancelled")) }
        confirmations[id] = .waiting(pending: pending, waiter)
        return .wait
    }

    /// The task of subscription `id` was cancelled while waiting; returns its waiter to fail, if it waits.
    mutating func cancelWaiting(id: SubscriptionID) -> Waiter? {
        let previous = confirmations.updateValue(.cancelled, forKey: id)
        guard case .waiting(_, let waiter) = previous else { return nil }
        return waiter
    }

    // MARK: - The I/O thread

    /// The I/O thread's turn: brings the server's subscriptions in line with the wanted channels, connecting first
    /// when needed.
    mutating func synchronize(now: Instant) -> Action {
        if !refusedUntil.isEmpty { refusedUntil = refusedUntil.filter { channels[$0.key] != nil && now < $0.value } }
        switch phase {
        case .closed:
            return .none
        case .disconnected(let reconnectAt, _):
            guard !channels.isEmpty else { return .none }
            if let reconnectAt, now < reconnectAt { return .none }
            return .connect
        case .connected:
            return subscribeAndUnsubscribe()
        }
    }

    /// The connection asked for by ``Action/connect`` is up (connected, authenticated, database selected).
    mutating func connected(now: Instant) -> Action {
        guard case .disconnected = phase else { return .none }
        phase = .connected
        session = Session(lastActivity: now)
        return subscribeAndUnsubscribe()
    }

    /// The connection asked for by ``Action/connect`` failed: the waiting subscriptions fail with `error` (a
    /// subscriber that cannot connect must not leave them hanging), and the next attempt waits for the backoff.
    mutating func connectFailed(_ error: RedisError, now: Instant) -> Action {
        guard case .disconnected(_, let backoff) = phase else { return .none }
        phase = .disconnected(reconnectAt: now.advanced(by: backoff), backoff: min(backoff * 2, Self.maximumBackoff))
        var failed: [Waiter] = []
        for case .waiting(_, let waiter) in confirmations.values { failed.append(waiter) }
        confirmations = confirmations.filter { if case .cancelled = $0.value { true } else { false } }
        return failed.isEmpty ? .none : .fail(failed, error)
    }

    /// The connection was lost or closed: every channel must be confirmed again, and the next attempt is at once.
    mutating func connectionLost(now: Instant) {
        guard case .connected = phase else { return }
        for (name, channel) in channels where channel.confirmed {
            gapped.insert(name)
            channels[name]?.confirmed = false
        }
        session = Session(lastActivity: now)
        phase = .disconnected(reconnectAt: now, backoff: Self.initialBackoff)
    }

    /// A reply or a pushed message arrived.
    mutating func received(_ value: RedisValue, now: Instant) -> Action {
        guard case .connected = phase else { return .none }
        session.lastActivity = now
        session.pingSentAt = nil
        guard case .array(let parts) = value, let kind = parts.first?.string else {
            guard case .error(let message) = value else { return .none }
            let error = RedisError(.server, message)
            // The server refused a SUBSCRIBE (an ACL's NOPERM, say). Reconnecting, as for other errors, would be
            // refused again in a tight loop while the subscription waited forever: fail the subscriptions waiting
            // for the channel, and try it again later for those still on it.
            guard case .subscribe(let channel) = session.replies.first else { return .disconnect(error) }
            session.replies.removeFirst()
            return refuse(channel, error, now: now)
        }
        if kind != "message", !session.replies.isEmpty { session.replies.removeFirst() }
        switch kind {
        case "message" where parts.count == 3:
            guard let channel = parts[1].string, let payload = parts[2].bytes,
                let sinks = channels[channel]?.sinks.values, !sinks.isEmpty
            else { return .none }
            return .deliver(.message(channel: channel, payload: payload), to: Array(sinks))
        case "subscribe" where parts.count == 3:
            guard let channel = parts[1].string else { return .none }
            let remaining = (session.expectedReplies[channel] ?? 1) - 1
            session.expectedReplies[channel] = remaining > 0 ? remaining : nil
            guard remaining <= 0, session.sent.contains(channel) else { return .none }
            return confirm(channel)
        default:
            // "unsubscribe" confirmations and keepalive "pong" replies need no action.
            return .none
        }
    }

    /// When ``timerFired(now:)`` must run next: a reconnect, a keepalive `PING` or its timeout, or the retry of a
    /// refused channel.
    var nextDeadline: Instant? {
        var deadline: Instant?
        switch phase {
        case .closed:
            return nil
        case .disconnected(let reconnectAt, _):
            if let reconnectAt { return reconnectAt }
        case .connected:
            if let pingSentAt = session.pingSentAt {
                deadline = pingSentAt.advanced(by: commandTimeout)
            } else if !session.sent.isEmpty {
                deadline = session.lastActivity.advanced(by: pingInterval)
            }
        }
        // Refused channels are retried by `synchronize`, which runs on every turn of the loop.
        if let retry = refusedUntil.values.min() { deadline = min(deadline ?? retry, retry) }
        return deadline
    }

    /// A deadline given by ``nextDeadline`` passed.
    mutating func timerFired(now: Instant) -> Action {
        switch phase {
        case .closed:
            return .none
        case .connected:
            if let pingSentAt = session.pingSentAt {
                guard now >= pingSentAt.advanced(by: commandTimeout) else { return .none }
                return .disconnect(RedisError(.timeout, "the subscriber's keepalive PING got no answer"))
            }
            guard !session.sent.isEmpty, now >= session.lastActivity.advanced(by: pingInterval) else { return .none }
            session.replies.append(.other)
            session.pingSentAt = now
            return .write([RedisCommand("PING")])
        case .disconnected(let reconnectAt, let backoff):
            guard !channels.isEmpty else {
                phase = .disconnected(reconnectAt: nil, backoff: backoff)
                return .none
            }
            if reconnectAt == nil { phase = .disconnected(reconnectAt: now, backoff: backoff) }
            return synchronize(now: now)
        }
    }

    /// The subscriber is closing: later subscriptions are refused, waiting ones fail, every subscription's events
    /// end.
    mutating func stop() -> Action {
        phase = .closed
        var waiters: [Waiter] = []
        for case .waiting(_, let waiter) in confirmations.values { waiters.append(waiter) }
        confirmations = [:]
        var sinks: [SubscriptionID: Sink] = [:]
        for channel in channels.values { sinks.merge(channel.sinks) { first, _ in first } }
        return .close(fail: waiters, finish: Array(sinks.values))
    }

    // MARK: - Helpers

    /// Subscribes the wanted channels not yet sent and unsubscribes the ones no subscription wants any more.
    private mutating func subscribeAndUnsubscribe() -> Action {
        var commands: [RedisCommand] = []
        // One SUBSCRIBE per channel (written together all the same): the server refuses a whole command when one of
        // its channels is forbidden, and a refusal must fail only the subscriptions to that channel.
        for channel in channels.keys where !session.sent.contains(channel) && refusedUntil[channel] == nil {
            commands.append(RedisCommand("SUBSCRIBE", RedisArgument(channel)))
            session.expectedReplies[channel, default: 0] += 1
            session.sent.insert(channel)
            session.replies.append(.subscribe(channel))
        }
        var leaving: [String] = []
        for channel in session.sent where channels[channel] == nil { leaving.append(channel) }
        if !leaving.isEmpty {
            var command = RedisCommand("UNSUBSCRIBE")
            for channel in leaving { command.append(RedisArgument(channel)) }
            commands.append(command)
            session.sent.subtract(leaving)
            session.replies.append(contentsOf: repeatElement(.other, count: leaving.count))
        }
        return commands.isEmpty ? .none : .write(commands)
    }

    /// The server confirmed `channel`: resumes the subscriptions whose channels are now all confirmed, and tells
    /// the channel's subscriptions about the gap if the connection was lost since it was last confirmed.
    private mutating func confirm(_ channel: String) -> Action {
        let notifyGap = gapped.remove(channel) != nil
        guard let sinks = channels[channel]?.sinks else { return .none }
        channels[channel]?.confirmed = true
        var ready: [Waiter] = []
        for (id, confirmation) in confirmations {
            guard case .waiting(var pending, let waiter) = confirmation, pending.remove(channel) != nil else {
                continue
            }
            if pending.isEmpty {
                ready.append(waiter)
                confirmations[id] = nil
            } else {
                confirmations[id] = .waiting(pending: pending, waiter)
            }
        }
        let gapTo = notifyGap ? Array(sinks.values) : []
        return ready.isEmpty && gapTo.isEmpty ? .none : .confirmed(resume: ready, gapTo: gapTo)
    }

    /// The server refused to subscribe `channel`: fails the subscriptions waiting for it; the channel is tried again
    /// after ``refusalRetryDelay`` for the subscriptions still on it.
    private mutating func refuse(_ channel: String, _ error: RedisError, now: Instant) -> Action {
        let remaining = (session.expectedReplies[channel] ?? 1) - 1
        session.expectedReplies[channel] = remaining > 0 ? remaining : nil
        if remaining <= 0 {
            session.sent.remove(channel)
            refusedUntil[channel] = now.advanced(by: Self.refusalRetryDelay)
        }
        var failed: [Waiter] = []
        for (id, confirmation) in confirmations {
            guard case .waiting(let pending, let waiter) = confirmation, pending.contains(channel) else { continue }
            failed.append(waiter)
            confirmations[id] = nil
        }
        return failed.isEmpty ? .none : .fail(failed, error)
    }
}

extension SubscriberStateMachine.Action: Equatable where Sink: Equatable, Waiter: Equatable {}
