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
///
/// In ``SubscriberMode/sharded`` mode the machine is one cluster node's share of the subscriptions: it sends
/// `SSUBSCRIBE` and `SUNSUBSCRIBE`, and a channel the node stops serving (a `sunsubscribe` the server pushes when the
/// slot moves or the shard fails over, or a `MOVED` answer) is reported with ``Action/moved(_:fail:_:)`` and left
/// alone until the cluster layer takes its subscriptions away with ``release(channels:)`` and hands them to the
/// owner's machine with ``register(channels:sink:id:gapped:)``. A connection that cannot be re-established reports
/// every channel the same way, as a hint to re-check the owners, but keeps trying them here until they are released.
struct SubscriberStateMachine<Sink, Waiter> {
    typealias SubscriptionID = UInt64
    typealias Instant = ContinuousClock.Instant
    typealias Mode = SubscriberMode

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
        /// Sharded mode: why the node no longer serves the channel, which waits here, unsubscribed, to be released
        /// (`nil` while it does); what a subscription that waits for its confirmation fails with.
        var movedAway: RedisError?
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
        case unsubscribe(String)
        case other
    }

    /// What was sent on the current connection, reset when it is lost.
    struct Session {
        /// Channels a `SUBSCRIBE` was sent for (and no `UNSUBSCRIBE` since, nor a `sunsubscribe` pushed).
        var sent: Set<String> = []
        /// `SUBSCRIBE` replies still expected per channel; a channel is confirmed when its count returns to zero.
        var expectedReplies: [String: Int] = [:]
        /// What each reply still expected answers, oldest first (one entry per reply of every command sent): how a
        /// server error reply is matched to the `SUBSCRIBE` it refuses, and how a `sunsubscribe` answering ours is
        /// told from one the server pushes.
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
        /// Sharded mode: fail the waiting subscriptions `fail` with `error`, then tell the cluster layer that these
        /// channels are not (or may not be) served by this node, so it moves their subscriptions to the owner.
        case moved([String], fail: [Waiter], RedisError)
        /// Close the connection because of `error`; the loop then reports ``connectionLost(now:)``.
        case disconnect(RedisError)
        /// The subscriber was closed: fail the waiting subscriptions and end every subscription's events.
        case close(fail: [Waiter], finish: [Sink])
    }

    /// One subscription's share of the channels taken off a machine by ``release(channels:)``, to be registered on
    /// another with ``register(channels:sink:id:gapped:)``.
    struct Registration {
        var channels: [String]
        var sink: Sink
        /// Whether the subscription may have missed messages: one of the channels was confirmed on the node it
        /// leaves, so it gets a gap once confirmed on the next.
        var gapped: Bool
    }

    /// Which pub/sub the connection speaks.
    let mode: Mode
    /// How long the connection may stay silent before a keepalive `PING`.
    let pingInterval: Duration
    /// How long a keepalive `PING` may wait for its answer before the connection is closed.
    let commandTimeout: Duration

    private(set) var channels: [String: Channel] = [:]
    private var confirmations: [SubscriptionID: Confirmation] = [:]
    private var nextID: SubscriptionID = 0
    private(set) var phase: Phase = .disconnected(reconnectAt: nil, backoff: Self.initialBackoff)
    private var session: Session
    /// Channels that were confirmed when the connection was lost (or, sharded, when the node stopped serving them):
    /// their subscriptions get a gap once they are confirmed again.
    private var gapped: Set<String> = []
    /// Channels whose `SUBSCRIBE` the server refused, and when to try them again.
    private var refusedUntil: [String: Instant] = [:]

    init(mode: Mode = .classic, pingInterval: Duration, commandTimeout: Duration, now: Instant) {
        self.mode = mode
        self.pingInterval = pingInterval
        self.commandTimeout = commandTimeout
        self.session = Session(lastActivity: now)
    }

    /// Whether every wanted channel is confirmed by the server.
    var isSubscribedToAll: Bool {
        channels.values.allSatisfy(\.confirmed)
    }

    /// Whether a wanted channel is to be subscribed on this connection (not moved away from this node).
    private var hasChannelsToSubscribe: Bool {
        channels.values.contains { $0.movedAway == nil }
    }

    // MARK: - Subscribing tasks

    /// A new subscription to `channels` (distinct), delivering to `sink`; fails when the subscriber is closed.
    mutating func register(channels: [String], sink: Sink) -> Result<SubscriptionID, RedisError> {
        if case .closed = phase { return .failure(Self.closedError) }
        nextID += 1
        add(channels, sink: sink, id: nextID)
        return .success(nextID)
    }

    /// A subscription whose id the caller chose (a cluster layer keeps one id across its nodes' machines; do not
    /// mix with ``register(channels:sink:)``, whose ids count from 1, on one machine). `gapped`: the subscription
    /// may have missed messages (it comes from ``release(channels:)`` on another node), so it gets a gap when each
    /// of its channels is confirmed here. Succeeds with `true` when `sink` must be handed a gap now, because one of
    /// the channels is confirmed here already; fails when the subscriber is closed. (A gap is owed per channel, so
    /// the other subscriptions to a channel not yet confirmed get one too: an extra gap costs a re-read, a missing
    /// one a lost wake-up.)
    mutating func register(channels: [String], sink: Sink, id: SubscriptionID, gapped: Bool) -> Result<Bool, RedisError>
    {
        if case .closed = phase { return .failure(Self.closedError) }
        add(channels, sink: sink, id: id)
        guard gapped else { return .success(false) }
        var gapNow = false
        for channel in channels {
            if self.channels[channel]?.confirmed == true { gapNow = true } else { self.gapped.insert(channel) }
        }
        return .success(gapNow)
    }

    /// Subscription `id` left: its channels that no other subscription wants will be unsubscribed.
    mutating func unregister(id: SubscriptionID, channels: [String]) {
        confirmations[id] = nil
        for channel in channels {
            self.channels[channel]?.sinks[id] = nil
            if self.channels[channel]?.sinks.isEmpty == true { self.channels[channel] = nil }
        }
    }

    /// Takes `channels` and their subscriptions off this machine, for a cluster layer moving them to the node that
    /// now serves them. A channel still subscribed on the connection is unsubscribed at the next ``synchronize(now:)``.
    ///
    /// A subscription waiting for the confirmation of a released channel is not moved: its waiter is returned, to
    /// be failed with ``RedisError/Code/moved`` (the subscribing task then leaves and subscribes again); its other
    /// channels stay until it unregisters. Every other subscription on a released channel is returned with the
    /// channels it had among them.
    mutating func release(
        channels released: [String]
    ) -> (registrations: [SubscriptionID: Registration], waiters: [Waiter]) {
        if case .closed = phase { return ([:], []) }
        let releasedSet = Set(released)
        var failing: Set<SubscriptionID> = []
        var waiters: [Waiter] = []
        for (id, confirmation) in confirmations {
            guard case .waiting(let pending, let waiter) = confirmation, !pending.isDisjoint(with: releasedSet) else {
                continue
            }
            failing.insert(id)
            waiters.append(waiter)
            confirmations[id] = nil
        }
        var registrations: [SubscriptionID: Registration] = [:]
        for name in releasedSet {
            guard let channel = channels.removeValue(forKey: name) else { continue }
            let owesGap = gapped.remove(name) != nil || channel.confirmed
            refusedUntil[name] = nil
            for (id, sink) in channel.sinks where !failing.contains(id) {
                registrations[id, default: Registration(channels: [], sink: sink, gapped: false)].channels.append(name)
                if owesGap { registrations[id]?.gapped = true }
            }
        }
        return (registrations, waiters)
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
        if case .closed = phase { return .fail(Self.closedError) }
        let pending = Set(channels.filter { self.channels[$0]?.confirmed != true })
        if pending.isEmpty { return .succeed }
        if case .cancelled = confirmations[id] { return .fail(RedisError(.cancelled, "subscribing was cancelled")) }
        // Sharded: a channel released or moved away is confirmed on another node, if anywhere: waiting here would
        // never end.
        if mode == .sharded {
            for channel in pending {
                guard let state = self.channels[channel] else { return .fail(Self.movedError) }
                if let moved = state.movedAway { return .fail(moved) }
            }
        }
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
            guard hasChannelsToSubscribe else { return .none }
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
    ///
    /// Sharded mode: every wanted channel is also reported with ``Action/moved(_:fail:_:)``, because a node that
    /// cannot be reached may be gone for good (a killed primary whose replica was promoted). The channels are still
    /// tried here, with backoff, until the cluster layer releases them.
    mutating func connectFailed(_ error: RedisError, now: Instant) -> Action {
        guard case .disconnected(_, let backoff) = phase else { return .none }
        phase = .disconnected(reconnectAt: now.advanced(by: backoff), backoff: min(backoff * 2, Self.maximumBackoff))
        var failed: [Waiter] = []
        for case .waiting(_, let waiter) in confirmations.values { failed.append(waiter) }
        confirmations = confirmations.filter { if case .cancelled = $0.value { true } else { false } }
        if mode == .sharded, !channels.isEmpty { return .moved(Array(channels.keys), fail: failed, error) }
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
        guard case .array(let parts) = value, let name = parts.first?.string else {
            switch value {
            case .error(let message):
                return receivedError(RedisError(.server, message), now: now)
            default:
                // A status reply: the `+PONG` of a connection that the server took out of pub/sub mode by dropping
                // its last sharded channel while the keepalive PING was on its way.
                if !session.replies.isEmpty { session.replies.removeFirst() }
                return .none
            }
        }
        let kind = mode.kind(of: name)
        if kind == .unsubscribe, mode == .sharded, parts.count == 3, let channel = parts[1].string,
            session.replies.first != .unsubscribe(channel)
        {
            // Not the answer to our SUNSUBSCRIBE (that one is the oldest reply expected): the server dropped the
            // channel because the node no longer serves its slot.
            return serverUnsubscribed(channel)
        }
        if kind != .message, !session.replies.isEmpty { session.replies.removeFirst() }
        switch kind {
        case .message where parts.count == 3:
            guard let channel = parts[1].string, let payload = parts[2].bytes,
                let sinks = channels[channel]?.sinks.values, !sinks.isEmpty
            else { return .none }
            return .deliver(.message(channel: channel, payload: payload), to: Array(sinks))
        case .subscribe where parts.count == 3:
            guard let channel = parts[1].string else { return .none }
            let remaining = (session.expectedReplies[channel] ?? 1) - 1
            session.expectedReplies[channel] = remaining > 0 ? remaining : nil
            guard remaining <= 0, session.sent.contains(channel) else { return .none }
            return confirm(channel)
        default:
            // Unsubscribe confirmations and keepalive "pong" replies need no action.
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
            guard hasChannelsToSubscribe else {
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

    private static var closedError: RedisError { RedisError(.clientClosed, "the subscriber was closed") }
    private static var movedError: RedisError { RedisError(.moved, "the channel is served by another cluster node") }

    /// Adds `sink` as subscription `id` to `channels`.
    private mutating func add(_ channels: [String], sink: Sink, id: SubscriptionID) {
        for channel in channels {
            // A channel left and wanted again before its UNSUBSCRIBE went out is still subscribed on the server:
            // no SUBSCRIBE will be sent for it, so no confirmation would come. It is confirmed already.
            let isSubscribed = session.sent.contains(channel) && session.expectedReplies[channel] == nil
            self.channels[channel, default: Channel(confirmed: isSubscribed)].sinks[id] = sink
        }
    }

    /// Subscribes the wanted channels not yet sent and unsubscribes the ones no subscription wants any more.
    private mutating func subscribeAndUnsubscribe() -> Action {
        var commands: [RedisCommand] = []
        // One SUBSCRIBE per channel (written together all the same): the server refuses a whole command when one of
        // its channels is forbidden (or, sharded, in another slot), and a refusal must fail only the subscriptions
        // to that channel.
        for (channel, state) in channels
        where !session.sent.contains(channel) && refusedUntil[channel] == nil && state.movedAway == nil {
            commands.append(RedisCommand(RedisArgument(mode.subscribeCommand), RedisArgument(channel)))
            session.expectedReplies[channel, default: 0] += 1
            session.sent.insert(channel)
            session.replies.append(.subscribe(channel))
        }
        var leaving: [String] = []
        for channel in session.sent where channels[channel] == nil { leaving.append(channel) }
        if !leaving.isEmpty {
            switch mode {
            case .classic:
                var command = RedisCommand("UNSUBSCRIBE")
                for channel in leaving { command.append(RedisArgument(channel)) }
                commands.append(command)
            case .sharded:
                // A SUNSUBSCRIBE naming channels of different slots is refused whole (CROSSSLOT).
                for channel in leaving { commands.append(RedisCommand("SUNSUBSCRIBE", RedisArgument(channel))) }
            }
            session.sent.subtract(leaving)
            session.replies.append(contentsOf: leaving.map(ExpectedReply.unsubscribe))
        }
        return commands.isEmpty ? .none : .write(commands)
    }

    /// An error reply: the refusal of the oldest command still unanswered.
    private mutating func receivedError(_ error: RedisError, now: Instant) -> Action {
        switch session.replies.first {
        case .subscribe(let channel):
            session.replies.removeFirst()
            let remaining = (session.expectedReplies[channel] ?? 1) - 1
            session.expectedReplies[channel] = remaining > 0 ? remaining : nil
            // MOVED: another node serves the channel's slot. (ASK, TRYAGAIN and CLUSTERDOWN say "not now": the
            // slot is migrating, or has no owner yet. The channel is retried here after the refusal delay, and this
            // node answers MOVED or confirms it once the cluster has settled.)
            if mode == .sharded, error.serverErrorPrefix == "MOVED" {
                session.sent.remove(channel)
                return moveAway(channel, error: RedisError(.moved, error.message))
            }
            // The server refused a SUBSCRIBE (an ACL's NOPERM, say). Reconnecting, as for other errors, would be
            // refused again in a tight loop while the subscription waited forever: fail the subscriptions waiting
            // for the channel, and try it again later for those still on it.
            return refuse(channel, remaining: remaining, error, now: now)
        case .unsubscribe where mode == .sharded && Self.isClusterRedirection(error):
            // The slot left this node before our SUNSUBSCRIBE arrived: the channel is not subscribed here anyway.
            session.replies.removeFirst()
            return .none
        default:
            return .disconnect(error)
        }
    }

    /// Whether `error` is the cluster's "not this node" or "not now" for a key or channel.
    private static func isClusterRedirection(_ error: RedisError) -> Bool {
        switch error.serverErrorPrefix {
        case "MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN": true
        default: false
        }
    }

    /// Sharded mode: the server pushed a `sunsubscribe` for `channel` (its slot left this node).
    private mutating func serverUnsubscribed(_ channel: String) -> Action {
        guard session.sent.remove(channel) != nil else { return .none }
        return moveAway(channel, error: RedisError(.moved, "the node stopped serving the channel's slot"))
    }

    /// Sharded mode: this node does not serve `channel` (any more). Its subscriptions stay, unsubscribed, until the
    /// cluster layer releases them; those waiting for its confirmation fail with `error`; those that had it
    /// confirmed get a gap once it is confirmed again, wherever that is.
    private mutating func moveAway(_ channel: String, error: RedisError) -> Action {
        guard var state = channels[channel] else { return .none }
        if state.confirmed { gapped.insert(channel) }
        let wasMovedAway = state.movedAway != nil
        state.confirmed = false
        state.movedAway = error
        channels[channel] = state
        var failed: [Waiter] = []
        for (id, confirmation) in confirmations {
            guard case .waiting(let pending, let waiter) = confirmation, pending.contains(channel) else { continue }
            failed.append(waiter)
            confirmations[id] = nil
        }
        if wasMovedAway, failed.isEmpty { return .none }
        return .moved([channel], fail: failed, error)
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
    /// after ``refusalRetryDelay`` for the subscriptions still on it. `remaining`: the channel's `SUBSCRIBE` replies
    /// still expected after this one.
    private mutating func refuse(_ channel: String, remaining: Int, _ error: RedisError, now: Instant) -> Action {
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
extension SubscriberStateMachine.Registration: Equatable where Sink: Equatable {}
extension SubscriberStateMachine.Registration: Sendable where Sink: Sendable {}
