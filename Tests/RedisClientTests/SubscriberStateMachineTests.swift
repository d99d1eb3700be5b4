import Testing

@testable import RedisClient

/// The subscriber's bookkeeping, without a server and with made-up instants: sinks and waiters are names.
@Suite("Subscriber state machine")
struct SubscriberStateMachineTests {
    typealias Machine = SubscriberStateMachine<String, String>

    static let t0 = ContinuousClock.now
    static func at(_ milliseconds: Int) -> ContinuousClock.Instant { t0.advanced(by: .milliseconds(milliseconds)) }

    static func subscribe(_ channel: String) -> RedisCommand { RedisCommand("SUBSCRIBE", RedisArgument(channel)) }
    static func subscribed(_ channel: String) -> RedisValue {
        .array([.bulk(Array("subscribe".utf8)), .bulk(Array(channel.utf8)), .integer(1)])
    }
    static func unsubscribed(_ channel: String) -> RedisValue {
        .array([.bulk(Array("unsubscribe".utf8)), .bulk(Array(channel.utf8)), .integer(0)])
    }
    static func message(_ channel: String, _ payload: String) -> RedisValue {
        .array([.bulk(Array("message".utf8)), .bulk(Array(channel.utf8)), .bulk(Array(payload.utf8))])
    }
    static let pong = RedisValue.array([.bulk(Array("pong".utf8)), .bulk([])])

    /// A machine with keepalive every 2 s and a 1 s command timeout.
    static func machine() -> Machine {
        Machine(pingInterval: .seconds(2), commandTimeout: .seconds(1), now: t0)
    }

    /// A machine connected at `t0` with subscription 1 (sink `s1`, waiter `w1`) confirmed on `channels`.
    static func subscribedMachine(_ channels: [String]) throws -> Machine {
        var machine = machine()
        let id = try machine.register(channels: channels, sink: "s1").get()
        #expect(machine.waitForConfirmation(id: id, channels: channels, waiter: "w1") == .wait)
        #expect(machine.synchronize(now: t0) == .connect)
        #expect(sorted(machine.connected(now: t0)) == .write(channels.sorted().map(subscribe)))
        for (index, channel) in channels.enumerated() {
            let action = machine.received(subscribed(channel), now: t0)
            #expect(
                action == (index == channels.count - 1 ? .confirmed(resume: ["w1"], gapTo: []) : Machine.Action.none)
            )
        }
        #expect(machine.isSubscribedToAll)
        return machine
    }

    /// The action with its lists in a stable order (the machine's come from dictionaries).
    static func sorted(_ action: Machine.Action) -> Machine.Action {
        switch action {
        case .write(let commands): .write(commands.sorted { $0.storage.lexicographicallyPrecedes($1.storage) })
        case .deliver(let event, let sinks): .deliver(event, to: sinks.sorted())
        case .confirmed(let waiters, let sinks): .confirmed(resume: waiters.sorted(), gapTo: sinks.sorted())
        case .fail(let waiters, let error): .fail(waiters.sorted(), error)
        case .close(let waiters, let sinks): .close(fail: waiters.sorted(), finish: sinks.sorted())
        default: action
        }
    }

    @Test("Nothing is wanted: no connection")
    func idle() {
        var machine = Self.machine()
        #expect(machine.synchronize(now: Self.t0) == .none)
        #expect(machine.nextDeadline == nil)
        #expect(machine.isSubscribedToAll)
    }

    @Test("The first subscription connects, sends one SUBSCRIBE per channel and waits for every confirmation")
    func firstSubscription() throws {
        var machine = Self.machine()
        let id = try machine.register(channels: ["a", "b"], sink: "s1").get()
        #expect(machine.waitForConfirmation(id: id, channels: ["a", "b"], waiter: "w1") == .wait)
        #expect(!machine.isSubscribedToAll)
        #expect(machine.synchronize(now: Self.t0) == .connect)
        #expect(Self.sorted(machine.connected(now: Self.t0)) == .write([Self.subscribe("a"), Self.subscribe("b")]))
        #expect(machine.synchronize(now: Self.t0) == .none, "nothing is sent twice")
        #expect(machine.received(Self.subscribed("a"), now: Self.t0) == .none)
        #expect(machine.received(Self.subscribed("b"), now: Self.t0) == .confirmed(resume: ["w1"], gapTo: []))
        #expect(machine.isSubscribedToAll)
    }

    @Test("A second subscription to a confirmed channel sends nothing and need not wait")
    func sharedChannel() throws {
        var machine = try Self.subscribedMachine(["a"])
        let second = try machine.register(channels: ["a"], sink: "s2").get()
        #expect(machine.waitForConfirmation(id: second, channels: ["a"], waiter: "w2") == .succeed)
        #expect(machine.synchronize(now: Self.t0) == .none)
        #expect(
            Self.sorted(machine.received(Self.message("a", "hi"), now: Self.t0))
                == .deliver(.message(channel: "a", payload: Array("hi".utf8)), to: ["s1", "s2"])
        )
        #expect(machine.received(Self.message("other", "hi"), now: Self.t0) == .none)
    }

    @Test("The last subscription to leave a channel unsubscribes it; one leaving of two does not")
    func leaving() throws {
        var machine = try Self.subscribedMachine(["a"])
        let second = try machine.register(channels: ["a"], sink: "s2").get()
        machine.unregister(id: second, channels: ["a"])
        #expect(machine.synchronize(now: Self.t0) == .none)
        machine.unregister(id: 1, channels: ["a"])
        #expect(machine.synchronize(now: Self.t0) == .write([RedisCommand("UNSUBSCRIBE", "a")]))
        #expect(machine.received(Self.unsubscribed("a"), now: Self.t0) == .none)
        #expect(machine.received(Self.message("a", "late"), now: Self.t0) == .none)
        #expect(machine.nextDeadline == nil, "no keepalive without channels")
    }

    @Test("A channel left and wanted again before its UNSUBSCRIBE went out is confirmed at once")
    func resubscribeBeforeUnsubscribe() throws {
        var machine = try Self.subscribedMachine(["a"])
        machine.unregister(id: 1, channels: ["a"])
        let again = try machine.register(channels: ["a"], sink: "s2").get()
        #expect(machine.isSubscribedToAll)
        #expect(machine.waitForConfirmation(id: again, channels: ["a"], waiter: "w2") == .succeed)
        #expect(machine.synchronize(now: Self.t0) == .none)
    }

    @Test("A channel wanted again after its UNSUBSCRIBE went out is subscribed again")
    func resubscribeAfterUnsubscribe() throws {
        var machine = try Self.subscribedMachine(["a"])
        machine.unregister(id: 1, channels: ["a"])
        #expect(machine.synchronize(now: Self.t0) == .write([RedisCommand("UNSUBSCRIBE", "a")]))
        let again = try machine.register(channels: ["a"], sink: "s2").get()
        #expect(machine.waitForConfirmation(id: again, channels: ["a"], waiter: "w2") == .wait)
        #expect(machine.synchronize(now: Self.t0) == .write([Self.subscribe("a")]))
        #expect(machine.received(Self.unsubscribed("a"), now: Self.t0) == .none)
        #expect(machine.received(Self.subscribed("a"), now: Self.t0) == .confirmed(resume: ["w2"], gapTo: []))
    }

    @Test("A lost connection reconnects at once, resubscribes every channel and reports one gap per channel")
    func reconnectGivesGap() throws {
        var machine = try Self.subscribedMachine(["a", "b"])
        machine.connectionLost(now: Self.at(100))
        #expect(!machine.isSubscribedToAll)
        #expect(machine.nextDeadline == Self.at(100))
        #expect(machine.timerFired(now: Self.at(100)) == .connect)
        #expect(
            Self.sorted(machine.connected(now: Self.at(110))) == .write([Self.subscribe("a"), Self.subscribe("b")])
        )
        #expect(machine.received(Self.subscribed("a"), now: Self.at(120)) == .confirmed(resume: [], gapTo: ["s1"]))
        #expect(machine.received(Self.subscribed("b"), now: Self.at(120)) == .confirmed(resume: [], gapTo: ["s1"]))
        #expect(machine.isSubscribedToAll)
        // Confirmed again: the next loss is a new gap, and only one.
        machine.connectionLost(now: Self.at(200))
        #expect(machine.synchronize(now: Self.at(200)) == .connect)
        _ = machine.connected(now: Self.at(200))
        #expect(machine.received(Self.subscribed("a"), now: Self.at(210)) == .confirmed(resume: [], gapTo: ["s1"]))
    }

    @Test("A channel not yet confirmed when the connection was lost gets no gap")
    func noGapBeforeConfirmation() throws {
        var machine = Self.machine()
        let id = try machine.register(channels: ["a"], sink: "s1").get()
        #expect(machine.waitForConfirmation(id: id, channels: ["a"], waiter: "w1") == .wait)
        #expect(machine.synchronize(now: Self.t0) == .connect)
        #expect(machine.connected(now: Self.t0) == .write([Self.subscribe("a")]))
        machine.connectionLost(now: Self.at(10))
        #expect(machine.synchronize(now: Self.at(10)) == .connect)
        #expect(machine.connected(now: Self.at(10)) == .write([Self.subscribe("a")]))
        #expect(machine.received(Self.subscribed("a"), now: Self.at(20)) == .confirmed(resume: ["w1"], gapTo: []))
    }

    @Test("A failed connection fails the waiting subscriptions and retries with doubling backoff up to a second")
    func connectBackoff() throws {
        var machine = Self.machine()
        let id = try machine.register(channels: ["a"], sink: "s1").get()
        #expect(machine.waitForConfirmation(id: id, channels: ["a"], waiter: "w1") == .wait)
        #expect(machine.synchronize(now: Self.t0) == .connect)
        let refused = RedisError(.connectionFailed, "refused")
        #expect(machine.connectFailed(refused, now: Self.t0) == .fail(["w1"], refused))
        var now = 0
        for delay in [50, 100, 200, 400, 800, 1000, 1000] {
            #expect(machine.nextDeadline == Self.at(now + delay))
            #expect(machine.synchronize(now: Self.at(now + delay - 1)) == .none, "not before the backoff")
            now += delay
            #expect(machine.timerFired(now: Self.at(now)) == .connect)
            #expect(machine.connectFailed(refused, now: Self.at(now)) == .none, "nobody waits any more")
        }
        // Success resets the backoff.
        #expect(machine.timerFired(now: Self.at(now + 1000)) == .connect)
        #expect(machine.connected(now: Self.at(now + 1000)) == .write([Self.subscribe("a")]))
        machine.connectionLost(now: Self.at(now + 2000))
        #expect(machine.timerFired(now: Self.at(now + 2000)) == .connect)
        _ = machine.connectFailed(refused, now: Self.at(now + 2000))
        #expect(machine.nextDeadline == Self.at(now + 2050))
    }

    @Test("A refused SUBSCRIBE fails only the subscriptions waiting for that channel, then is retried a second later")
    func refusedChannel() throws {
        var machine = try Self.subscribedMachine(["allowed"])
        let secret = try machine.register(channels: ["secret", "other"], sink: "s2").get()
        #expect(machine.waitForConfirmation(id: secret, channels: ["secret", "other"], waiter: "w2") == .wait)
        guard case .write(let commands) = machine.synchronize(now: Self.at(10)) else {
            Issue.record("no SUBSCRIBE was written")
            return
        }
        #expect(Set(commands) == [Self.subscribe("other"), Self.subscribe("secret")])
        // The replies come in the order of the commands.
        let noperm = RedisError(.server, "NOPERM this user has no permissions to access the 'secret' channel")
        let actions = commands.map { command in
            command == Self.subscribe("secret")
                ? machine.received(.error(noperm.message), now: Self.at(20))
                : machine.received(Self.subscribed("other"), now: Self.at(20))
        }
        #expect(actions.filter { $0 != .none } == [.fail(["w2"], noperm)])
        #expect(machine.phase == .connected, "a refusal does not drop the connection")
        #expect(!machine.isSubscribedToAll)
        // Subscription 2 is still registered (its task is about to leave): the channel is retried a second later.
        #expect(machine.nextDeadline == Self.at(1020))
        #expect(machine.synchronize(now: Self.at(1019)) == .none)
        #expect(machine.synchronize(now: Self.at(1020)) == .write([Self.subscribe("secret")]))
    }

    @Test("A refused channel nobody wants any more is not retried")
    func refusedChannelLeft() throws {
        var machine = try Self.subscribedMachine(["allowed"])
        let secret = try machine.register(channels: ["secret"], sink: "s2").get()
        #expect(machine.waitForConfirmation(id: secret, channels: ["secret"], waiter: "w2") == .wait)
        #expect(machine.synchronize(now: Self.at(10)) == .write([Self.subscribe("secret")]))
        let noperm = RedisError(.server, "NOPERM no")
        #expect(machine.received(.error(noperm.message), now: Self.at(20)) == .fail(["w2"], noperm))
        machine.unregister(id: secret, channels: ["secret"])
        #expect(machine.synchronize(now: Self.at(30)) == .none)
        #expect(machine.nextDeadline == Self.at(2020), "only the keepalive, two seconds after the last reply")
    }

    @Test("An error reply that answers no SUBSCRIBE closes the connection")
    func unexpectedError() throws {
        var machine = try Self.subscribedMachine(["a"])
        #expect(machine.received(.error("ERR boom"), now: Self.t0) == .disconnect(RedisError(.server, "ERR boom")))
    }

    @Test("Keepalive: a PING after the silence, the connection closed when its answer does not come in time")
    func keepalive() throws {
        var machine = try Self.subscribedMachine(["a"])
        #expect(machine.nextDeadline == Self.at(2000))
        #expect(machine.timerFired(now: Self.at(1999)) == .none)
        // A message is activity: the PING waits longer.
        _ = machine.received(Self.message("a", "x"), now: Self.at(500))
        #expect(machine.nextDeadline == Self.at(2500))
        #expect(machine.timerFired(now: Self.at(2500)) == .write([RedisCommand("PING")]))
        #expect(machine.nextDeadline == Self.at(3500))
        #expect(machine.received(Self.pong, now: Self.at(2600)) == .none)
        #expect(machine.nextDeadline == Self.at(4600))
        #expect(machine.timerFired(now: Self.at(4600)) == .write([RedisCommand("PING")]))
        #expect(machine.timerFired(now: Self.at(5599)) == .none)
        #expect(
            machine.timerFired(now: Self.at(5600))
                == .disconnect(RedisError(.timeout, "the subscriber's keepalive PING got no answer"))
        )
    }

    @Test("An error reply to a PING is not taken for a refused SUBSCRIBE")
    func pingRepliesKeepTheirPlace() throws {
        var machine = try Self.subscribedMachine(["a"])
        #expect(machine.timerFired(now: Self.at(2000)) == .write([RedisCommand("PING")]))
        let other = try machine.register(channels: ["b"], sink: "s2").get()
        #expect(machine.waitForConfirmation(id: other, channels: ["b"], waiter: "w2") == .wait)
        #expect(machine.synchronize(now: Self.at(2001)) == .write([Self.subscribe("b")]))
        #expect(
            machine.received(.error("ERR ping refused"), now: Self.at(2002))
                == .disconnect(RedisError(.server, "ERR ping refused"))
        )
    }

    @Test("Cancelling a waiting subscription returns its waiter once; waiting again after that fails")
    func cancellation() throws {
        var machine = Self.machine()
        let id = try machine.register(channels: ["a"], sink: "s1").get()
        #expect(machine.waitForConfirmation(id: id, channels: ["a"], waiter: "w1") == .wait)
        #expect(machine.cancelWaiting(id: id) == "w1")
        #expect(machine.cancelWaiting(id: id) == nil)
        #expect(
            machine.waitForConfirmation(id: id, channels: ["a"], waiter: "w1")
                == .fail(RedisError(.cancelled, "subscribing was cancelled"))
        )
        // A connection failure does not resume the cancelled waiter again.
        #expect(machine.synchronize(now: Self.t0) == .connect)
        #expect(machine.connectFailed(RedisError(.connectionFailed, "refused"), now: Self.t0) == .none)
        // Cancelled before waiting: the wait fails at once.
        let early = try machine.register(channels: ["b"], sink: "s2").get()
        #expect(machine.cancelWaiting(id: early) == nil)
        #expect(
            machine.waitForConfirmation(id: early, channels: ["b"], waiter: "w2")
                == .fail(RedisError(.cancelled, "subscribing was cancelled"))
        )
    }

    @Test("Closing fails the waiting subscriptions, ends every subscription once and refuses new ones")
    func closing() throws {
        var machine = try Self.subscribedMachine(["a", "b"])
        let waiting = try machine.register(channels: ["c"], sink: "s2").get()
        #expect(machine.waitForConfirmation(id: waiting, channels: ["c"], waiter: "w2") == .wait)
        #expect(Self.sorted(machine.stop()) == .close(fail: ["w2"], finish: ["s1", "s2"]))
        #expect(
            machine.register(channels: ["d"], sink: "s3")
                == .failure(RedisError(.clientClosed, "the subscriber was closed"))
        )
        #expect(
            machine.waitForConfirmation(id: waiting, channels: ["c"], waiter: "w2")
                == .fail(RedisError(.clientClosed, "the subscriber was closed"))
        )
        #expect(machine.synchronize(now: Self.t0) == .none)
        #expect(machine.nextDeadline == nil)
    }

    @Test("A reader that falls behind the buffer is told with one gap, not one per dropped event")
    func sinkOverflow() async {
        let (stream, sink) = SubscriptionSink.makeStream(limit: 3)
        for index in 0..<10 { sink.yield(.message(channel: "a", payload: [UInt8(index)])) }
        sink.finish()
        var events: [RedisSubscriptionEvent] = []
        for await event in stream { events.append(event) }
        // The buffer holds the last three: the gap that replaced the dropped events is among them.
        #expect(events == [.message(channel: "a", payload: [8]), .message(channel: "a", payload: [9]), .gap])
    }

    @Test("A reader that keeps up sees no gap")
    func sinkWithinLimit() async {
        let (stream, sink) = SubscriptionSink.makeStream(limit: 3)
        for index in 0..<3 { sink.yield(.message(channel: "a", payload: [UInt8(index)])) }
        sink.finish()
        var events: [RedisSubscriptionEvent] = []
        for await event in stream { events.append(event) }
        #expect(events == (0..<3).map { .message(channel: "a", payload: [UInt8($0)]) })
    }
}
