import Testing

@testable import RedisClient

/// The subscriber's bookkeeping in sharded mode (one cluster node's share of the subscriptions), without a server:
/// sinks and waiters are names, instants are made up.
@Suite("Sharded subscriber state machine")
struct ShardedSubscriberStateMachineTests {
    typealias Machine = SubscriberStateMachine<String, String>

    static let t0 = ContinuousClock.now
    static func at(_ milliseconds: Int) -> ContinuousClock.Instant { t0.advanced(by: .milliseconds(milliseconds)) }

    static func ssubscribe(_ channel: String) -> RedisCommand { RedisCommand("SSUBSCRIBE", RedisArgument(channel)) }
    static func sunsubscribe(_ channel: String) -> RedisCommand {
        RedisCommand("SUNSUBSCRIBE", RedisArgument(channel))
    }
    static func push(_ kind: String, _ channel: String, _ last: RedisValue) -> RedisValue {
        .array([.bulk(Array(kind.utf8)), .bulk(Array(channel.utf8)), last])
    }
    static func ssubscribed(_ channel: String) -> RedisValue { push("ssubscribe", channel, .integer(1)) }
    /// A `sunsubscribe`: the reply to ours, or one the server pushes when the slot leaves the node.
    static func sunsubscribed(_ channel: String) -> RedisValue { push("sunsubscribe", channel, .integer(0)) }
    static func smessage(_ channel: String, _ payload: String) -> RedisValue {
        push("smessage", channel, .bulk(Array(payload.utf8)))
    }
    static let pushedAway = RedisError(.moved, "the node stopped serving the channel's slot")
    static let movedElsewhere = RedisError(.moved, "the channel is served by another cluster node")

    static func machine() -> Machine {
        Machine(mode: .sharded, pingInterval: .seconds(2), commandTimeout: .seconds(1), now: t0)
    }

    /// A sharded machine connected at `t0` with subscription 1 (sink `s1`, waiter `w1`) confirmed on `channels`.
    static func subscribedMachine(_ channels: [String]) throws -> Machine {
        var machine = machine()
        let id = try machine.register(channels: channels, sink: "s1").get()
        #expect(machine.waitForConfirmation(id: id, channels: channels, waiter: "w1") == .wait)
        #expect(machine.synchronize(now: t0) == .connect)
        #expect(sorted(machine.connected(now: t0)) == .write(channels.sorted().map(ssubscribe)))
        for (index, channel) in channels.enumerated() {
            let action = machine.received(ssubscribed(channel), now: t0)
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
        case .moved(let channels, let waiters, let error): .moved(channels.sorted(), fail: waiters.sorted(), error)
        case .close(let waiters, let sinks): .close(fail: waiters.sorted(), finish: sinks.sorted())
        default: action
        }
    }

    @Test("Sharded: one SSUBSCRIBE per channel, ssubscribe confirms, smessage is delivered as a message")
    func subscribeAndDeliver() throws {
        var machine = try Self.subscribedMachine(["a", "b"])
        #expect(
            machine.received(Self.smessage("a", "hi"), now: Self.t0)
                == .deliver(.message(channel: "a", payload: Array("hi".utf8)), to: ["s1"])
        )
        #expect(machine.received(Self.smessage("other", "hi"), now: Self.t0) == .none)
        // Classic pushes mean nothing to a sharded connection.
        #expect(machine.received(Self.push("message", "a", .bulk([1])), now: Self.t0) == .none)
    }

    @Test("Sharded: leaving sends one SUNSUBSCRIBE per channel (a multi-slot one would be refused as CROSSSLOT)")
    func leaving() throws {
        var machine = try Self.subscribedMachine(["a", "b"])
        machine.unregister(id: 1, channels: ["a", "b"])
        #expect(
            Self.sorted(machine.synchronize(now: Self.t0)) == .write([Self.sunsubscribe("a"), Self.sunsubscribe("b")])
        )
        // The replies answer ours: nothing moved.
        #expect(machine.received(Self.sunsubscribed("a"), now: Self.t0) == .none)
        #expect(machine.received(Self.sunsubscribed("b"), now: Self.t0) == .none)
        #expect(machine.nextDeadline == nil, "no keepalive without channels")
    }

    @Test("A pushed sunsubscribe of a wanted channel reports it moved, with a gap owed and no resubscription here")
    func pushedSunsubscribe() throws {
        var machine = try Self.subscribedMachine(["a", "b"])
        #expect(machine.received(Self.sunsubscribed("a"), now: Self.at(10)) == .moved(["a"], fail: [], Self.pushedAway))
        #expect(!machine.isSubscribedToAll)
        #expect(machine.synchronize(now: Self.at(20)) == .none, "the node would answer MOVED")
        #expect(machine.timerFired(now: Self.at(5000)) == .write([RedisCommand("PING")]), "b is still served")
        // The same push again (or a late one) reports nothing new.
        #expect(machine.received(Self.sunsubscribed("a"), now: Self.at(5010)) == .none)
        #expect(machine.received(Self.smessage("b", "x"), now: Self.at(5020)) != .none)
        // A new subscription to the moved channel cannot be confirmed here: it fails at once, it does not hang.
        let late = try machine.register(channels: ["a"], sink: "s2").get()
        #expect(machine.waitForConfirmation(id: late, channels: ["a"], waiter: "w2") == .fail(Self.pushedAway))
    }

    @Test("A pushed sunsubscribe does not take the place of the reply to a command in flight")
    func pushDoesNotPopReplies() throws {
        var machine = try Self.subscribedMachine(["a", "b"])
        // In flight, oldest first: our SUNSUBSCRIBE b, then SSUBSCRIBE secret.
        machine.unregister(id: 1, channels: ["b"])
        let secret = try machine.register(channels: ["secret"], sink: "s2").get()
        #expect(machine.waitForConfirmation(id: secret, channels: ["secret"], waiter: "w2") == .wait)
        #expect(
            Self.sorted(machine.synchronize(now: Self.at(10)))
                == .write([Self.ssubscribe("secret"), Self.sunsubscribe("b")])
        )
        // a's slot moves before the server answers.
        #expect(machine.received(Self.sunsubscribed("a"), now: Self.at(20)) == .moved(["a"], fail: [], Self.pushedAway))
        // The SSUBSCRIBE was written first: its refusal is matched to it, not to the SUNSUBSCRIBE.
        let noperm = RedisError(.server, "NOPERM no")
        #expect(machine.received(.error(noperm.message), now: Self.at(30)) == .fail(["w2"], noperm))
        #expect(machine.received(Self.sunsubscribed("b"), now: Self.at(30)) == .none, "the reply to ours")
        #expect(machine.phase == .connected)
    }

    @Test("The reply to our SUNSUBSCRIBE comes after a push for another channel: each is told apart")
    func replyAfterPush() throws {
        var machine = try Self.subscribedMachine(["a", "b"])
        machine.unregister(id: 1, channels: ["b"])
        #expect(machine.synchronize(now: Self.at(10)) == .write([Self.sunsubscribe("b")]))
        #expect(machine.received(Self.sunsubscribed("a"), now: Self.at(20)) == .moved(["a"], fail: [], Self.pushedAway))
        #expect(machine.received(Self.sunsubscribed("b"), now: Self.at(20)) == .none)
        // Every expected reply was matched: the next refusal answers the next SSUBSCRIBE.
        let other = try machine.register(channels: ["c"], sink: "s2").get()
        #expect(machine.waitForConfirmation(id: other, channels: ["c"], waiter: "w2") == .wait)
        #expect(machine.synchronize(now: Self.at(30)) == .write([Self.ssubscribe("c")]))
        let refused = RedisError(.server, "NOPERM no")
        #expect(machine.received(.error(refused.message), now: Self.at(40)) == .fail(["w2"], refused))
    }

    @Test("A pushed sunsubscribe of a channel we are leaving or never had is no move")
    func pushForUnwantedChannel() throws {
        var machine = try Self.subscribedMachine(["a"])
        machine.unregister(id: 1, channels: ["a"])
        // Before our SUNSUBSCRIBE went out: the server dropped it for us.
        #expect(machine.received(Self.sunsubscribed("a"), now: Self.at(10)) == .none)
        #expect(machine.synchronize(now: Self.at(10)) == .none, "no SUNSUBSCRIBE for a channel the server dropped")
        #expect(machine.received(Self.sunsubscribed("never"), now: Self.at(20)) == .none)
    }

    @Test("MOVED answering an SSUBSCRIBE reports the channel moved at once, fails its waiter, and is not retried here")
    func movedReply() throws {
        var machine = try Self.subscribedMachine(["a"])
        let elsewhere = try machine.register(channels: ["b"], sink: "s2").get()
        #expect(machine.waitForConfirmation(id: elsewhere, channels: ["b"], waiter: "w2") == .wait)
        #expect(machine.synchronize(now: Self.at(10)) == .write([Self.ssubscribe("b")]))
        let moved = RedisError(.moved, "MOVED 3300 127.0.0.1:7001")
        #expect(
            machine.received(.error("MOVED 3300 127.0.0.1:7001"), now: Self.at(20))
                == .moved(["b"], fail: ["w2"], moved)
        )
        #expect(machine.phase == .connected)
        #expect(machine.nextDeadline == Self.at(2020), "no refusal retry, only the keepalive")
        #expect(machine.synchronize(now: Self.at(5000)) == .none)
        #expect(!machine.isSubscribedToAll)
        // A subscription that starts waiting after the answer fails with it too.
        let late = try machine.register(channels: ["b"], sink: "s3").get()
        #expect(machine.waitForConfirmation(id: late, channels: ["b"], waiter: "w3") == .fail(moved))
    }

    @Test("CLUSTERDOWN, TRYAGAIN or ASK answering an SSUBSCRIBE is a refusal: retried on this node a second later")
    func notNowReplies() throws {
        for reply in [
            "CLUSTERDOWN Hash slot not served", "TRYAGAIN Multiple keys request during rehashing",
            "ASK 3300 127.0.0.1:7001",
        ] {
            var machine = try Self.subscribedMachine(["a"])
            let id = try machine.register(channels: ["b"], sink: "s2").get()
            #expect(machine.waitForConfirmation(id: id, channels: ["b"], waiter: "w2") == .wait)
            #expect(machine.synchronize(now: Self.at(10)) == .write([Self.ssubscribe("b")]))
            let error = RedisError(.server, reply)
            #expect(machine.received(.error(reply), now: Self.at(20)) == .fail(["w2"], error))
            #expect(machine.nextDeadline == Self.at(1020))
            #expect(machine.synchronize(now: Self.at(1020)) == .write([Self.ssubscribe("b")]))
        }
    }

    @Test("A redirection answering our SUNSUBSCRIBE is harmless; any other unexpected error closes the connection")
    func errorAnsweringSunsubscribe() throws {
        var machine = try Self.subscribedMachine(["a", "b"])
        machine.unregister(id: 1, channels: ["a"])
        #expect(machine.synchronize(now: Self.at(10)) == .write([Self.sunsubscribe("a")]))
        #expect(machine.received(.error("MOVED 15495 127.0.0.1:7002"), now: Self.at(20)) == .none)
        #expect(machine.phase == .connected)
        machine.unregister(id: 1, channels: ["b"])
        #expect(machine.synchronize(now: Self.at(30)) == .write([Self.sunsubscribe("b")]))
        #expect(machine.received(.error("ERR boom"), now: Self.at(40)) == .disconnect(RedisError(.server, "ERR boom")))
    }

    @Test("A channel that moves while a subscription waits for its confirmation fails the waiter: nobody hangs")
    func movedWhileWaiting() throws {
        var machine = try Self.subscribedMachine(["a"])
        // Left and wanted again: SUNSUBSCRIBE a and SSUBSCRIBE a are both in flight when the slot moves.
        machine.unregister(id: 1, channels: ["a"])
        #expect(machine.synchronize(now: Self.at(10)) == .write([Self.sunsubscribe("a")]))
        let again = try machine.register(channels: ["a"], sink: "s2").get()
        #expect(machine.waitForConfirmation(id: again, channels: ["a"], waiter: "w2") == .wait)
        #expect(machine.synchronize(now: Self.at(10)) == .write([Self.ssubscribe("a")]))
        // The server pushes sunsubscribe (taken for the reply to ours: they look the same), then answers MOVED.
        #expect(machine.received(Self.sunsubscribed("a"), now: Self.at(20)) == .none)
        let moved = RedisError(.moved, "MOVED 15495 127.0.0.1:7002")
        #expect(
            machine.received(.error("MOVED 15495 127.0.0.1:7002"), now: Self.at(20))
                == .moved(["a"], fail: ["w2"], moved)
        )

        // A push for a channel whose confirmation is still awaited fails its waiter too.
        var other = try Self.subscribedMachine(["x"])
        let waiting = try other.register(channels: ["c"], sink: "s2").get()
        #expect(other.waitForConfirmation(id: waiting, channels: ["c"], waiter: "w2") == .wait)
        #expect(other.synchronize(now: Self.at(10)) == .write([Self.ssubscribe("c")]))
        #expect(
            other.received(Self.sunsubscribed("c"), now: Self.at(20)) == .moved(["c"], fail: ["w2"], Self.pushedAway)
        )
        #expect(
            other.received(Self.ssubscribed("c"), now: Self.at(20)) == .none,
            "not confirmed on a node that left it"
        )
        #expect(!other.isSubscribedToAll)
    }

    @Test("Release hands the subscriptions of moved channels over with their gap; waiters on them fail")
    func release() throws {
        var machine = try Self.subscribedMachine(["a", "b", "c"])
        let second = try machine.register(channels: ["a"], sink: "s2").get()
        #expect(machine.waitForConfirmation(id: second, channels: ["a"], waiter: "w2") == .succeed)
        let waiting = try machine.register(channels: ["d"], sink: "s3").get()
        #expect(machine.waitForConfirmation(id: waiting, channels: ["d"], waiter: "w3") == .wait)
        #expect(machine.synchronize(now: Self.at(10)) == .write([Self.ssubscribe("d")]))
        #expect(machine.received(Self.sunsubscribed("a"), now: Self.at(20)) == .moved(["a"], fail: [], Self.pushedAway))

        let (registrations, waiters) = machine.release(channels: ["a", "b", "d"])
        // a (moved) and b (confirmed here, moved by the cluster layer) owe a gap; d's only subscription was waiting.
        #expect(waiters == ["w3"])
        #expect(registrations.count == 2)
        #expect(registrations[1].map { Set($0.channels) } == Set(["a", "b"]))
        #expect(registrations[1]?.sink == "s1")
        #expect(registrations[1]?.gapped == true)
        #expect(registrations[second] == Machine.Registration(channels: ["a"], sink: "s2", gapped: true))
        // b and d are still subscribed on this connection: they are left; a was dropped by the server already.
        #expect(
            Self.sorted(machine.synchronize(now: Self.at(30)))
                == .write([Self.sunsubscribe("b"), Self.sunsubscribe("d")])
        )
        #expect(machine.isSubscribedToAll, "c is all that is left")
        #expect(machine.waitForConfirmation(id: 1, channels: ["c"], waiter: "w1") == .succeed)
        #expect(machine.waitForConfirmation(id: 1, channels: ["a"], waiter: "w1") == .fail(Self.movedElsewhere))
    }

    @Test("Moved subscriptions get a gap when their channel is confirmed on the new node, at once if it already is")
    func gapAfterMove() throws {
        var old = try Self.subscribedMachine(["a"])
        #expect(old.received(Self.sunsubscribed("a"), now: Self.at(10)) == .moved(["a"], fail: [], Self.pushedAway))
        let (registrations, _) = old.release(channels: ["a"])
        #expect(old.synchronize(now: Self.at(20)) == .none)

        var new = Self.machine()
        for (id, registration) in registrations {
            let gapNow = new.register(
                channels: registration.channels,
                sink: registration.sink,
                id: id,
                gapped: registration.gapped
            )
            #expect(gapNow == .success(false))
        }
        #expect(new.synchronize(now: Self.at(30)) == .connect)
        #expect(new.connected(now: Self.at(30)) == .write([Self.ssubscribe("a")]))
        #expect(new.received(Self.ssubscribed("a"), now: Self.at(40)) == .confirmed(resume: [], gapTo: ["s1"]))
        // Another subscription moved onto the confirmed channel is owed its gap now; a fresh one is not.
        #expect(new.register(channels: ["a"], sink: "s2", id: 7, gapped: true) == .success(true))
        #expect(new.register(channels: ["a"], sink: "s3", id: 8, gapped: false) == .success(false))
        #expect(new.synchronize(now: Self.at(50)) == .none)
        #expect(
            Self.sorted(new.received(Self.smessage("a", "x"), now: Self.at(60)))
                == .deliver(.message(channel: "a", payload: [UInt8(ascii: "x")]), to: ["s1", "s2", "s3"])
        )
        // A channel that was never confirmed owes no gap.
        var refused = Self.machine()
        _ = try refused.register(channels: ["b"], sink: "s4").get()
        _ = refused.synchronize(now: Self.t0)
        _ = refused.connected(now: Self.t0)
        _ = refused.received(.error("MOVED 3300 127.0.0.1:7001"), now: Self.t0)
        #expect(refused.release(channels: ["b"]).registrations[1]?.gapped == false)
    }

    @Test("A lost connection resubscribes with a gap, but not the channels that moved away")
    func reconnect() throws {
        var machine = try Self.subscribedMachine(["a", "b"])
        #expect(machine.received(Self.sunsubscribed("a"), now: Self.at(10)) == .moved(["a"], fail: [], Self.pushedAway))
        machine.connectionLost(now: Self.at(100))
        #expect(machine.timerFired(now: Self.at(100)) == .connect)
        #expect(machine.connected(now: Self.at(110)) == .write([Self.ssubscribe("b")]))
        #expect(machine.received(Self.ssubscribed("b"), now: Self.at(120)) == .confirmed(resume: [], gapTo: ["s1"]))
    }

    @Test("A failed reconnect reports every wanted channel for the owners to be re-checked, and keeps trying here")
    func reconnectFails() throws {
        var machine = try Self.subscribedMachine(["a", "b"])
        let waiting = try machine.register(channels: ["c"], sink: "s2").get()
        #expect(machine.waitForConfirmation(id: waiting, channels: ["c"], waiter: "w2") == .wait)
        machine.connectionLost(now: Self.at(100))
        #expect(machine.timerFired(now: Self.at(100)) == .connect)
        let refused = RedisError(.connectionFailed, "refused")
        #expect(
            Self.sorted(machine.connectFailed(refused, now: Self.at(100)))
                == .moved(["a", "b", "c"], fail: ["w2"], refused)
        )
        #expect(machine.nextDeadline == Self.at(150))
        #expect(machine.timerFired(now: Self.at(150)) == .connect)
        #expect(
            Self.sorted(machine.connectFailed(refused, now: Self.at(150)))
                == .moved(["a", "b", "c"], fail: [], refused)
        )
        // The cluster layer moves them all elsewhere: nothing is left to connect for.
        #expect(machine.release(channels: ["a", "b", "c"]).registrations.count == 2)
        #expect(machine.timerFired(now: Self.at(250)) == .none)
        #expect(machine.nextDeadline == nil)
    }

    @Test("With every channel moved away, a lost connection is not re-established")
    func allMovedAway() throws {
        var machine = try Self.subscribedMachine(["a"])
        _ = machine.received(Self.sunsubscribed("a"), now: Self.at(10))
        machine.connectionLost(now: Self.at(20))
        #expect(machine.timerFired(now: Self.at(20)) == .none)
        #expect(machine.synchronize(now: Self.at(30)) == .none)
    }

    @Test("The +PONG of a connection the server took out of pub/sub mode answers our PING")
    func statusPong() throws {
        var machine = try Self.subscribedMachine(["a", "b"])
        #expect(machine.timerFired(now: Self.at(2000)) == .write([RedisCommand("PING")]))
        _ = machine.received(Self.sunsubscribed("a"), now: Self.at(2001))
        _ = machine.received(Self.sunsubscribed("b"), now: Self.at(2002))
        #expect(machine.received(.status("PONG"), now: Self.at(2003)) == .none)
        // The PING's reply was matched: the next refusal answers the next SSUBSCRIBE.
        let id = try machine.register(channels: ["c"], sink: "s2").get()
        #expect(machine.waitForConfirmation(id: id, channels: ["c"], waiter: "w2") == .wait)
        #expect(machine.synchronize(now: Self.at(2010)) == .write([Self.ssubscribe("c")]))
        let noperm = RedisError(.server, "NOPERM no")
        #expect(machine.received(.error(noperm.message), now: Self.at(2020)) == .fail(["w2"], noperm))
    }

    @Test("Classic mode is unchanged: SUBSCRIBE, one UNSUBSCRIBE, and an unexpected unsubscribe is no move")
    func classicUnchanged() throws {
        var machine = SubscriberStateMachine<String, String>(
            pingInterval: .seconds(2),
            commandTimeout: .seconds(1),
            now: Self.t0
        )
        #expect(machine.mode == .classic)
        let id = try machine.register(channels: ["a", "b"], sink: "s1").get()
        #expect(machine.synchronize(now: Self.t0) == .connect)
        #expect(
            Self.sorted(machine.connected(now: Self.t0))
                == .write([RedisCommand("SUBSCRIBE", "a"), RedisCommand("SUBSCRIBE", "b")])
        )
        #expect(machine.received(Self.push("subscribe", "a", .integer(1)), now: Self.t0) == .none)
        #expect(machine.received(Self.push("subscribe", "b", .integer(2)), now: Self.t0) == .none)
        #expect(machine.isSubscribedToAll)
        #expect(machine.received(Self.push("unsubscribe", "a", .integer(1)), now: Self.t0) == .none)
        #expect(machine.received(Self.smessage("a", "x"), now: Self.t0) == .none, "smessage is not a classic push")
        machine.unregister(id: id, channels: ["a", "b"])
        guard case .write(let commands) = machine.synchronize(now: Self.t0), commands.count == 1 else {
            Issue.record("expected one UNSUBSCRIBE")
            return
        }
        #expect(
            commands[0] == RedisCommand("UNSUBSCRIBE", "a", "b") || commands[0] == RedisCommand("UNSUBSCRIBE", "b", "a")
        )
        #expect(
            machine.received(.error("MOVED 1 127.0.0.1:1"), now: Self.t0)
                == .disconnect(RedisError(.server, "MOVED 1 127.0.0.1:1"))
        )
    }

    @Test("The mode names the commands and reads the pushes")
    func modeVocabulary() {
        #expect(SubscriberMode.classic.subscribeCommand == "SUBSCRIBE")
        #expect(SubscriberMode.sharded.unsubscribeCommand == "SUNSUBSCRIBE")
        #expect(SubscriberMode.sharded.kind(of: "smessage") == .message)
        #expect(SubscriberMode.sharded.kind(of: "message") == .other)
        #expect(SubscriberMode.classic.kind(of: "sunsubscribe") == .other)
        #expect(SubscriberMode.classic.kind(of: "unsubscribe") == .unsubscribe)
    }
}
