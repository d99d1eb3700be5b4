import RedisClient
import RedisTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Pub/sub subscriber")
struct SubscriberTests {
    let publisher: RedisConnection
    let channel = TestRedis.uniquePrefix("chan")

    init() throws { publisher = try sharedConnection() }

    func subscriber(pingInterval: Duration = .seconds(2)) throws -> RedisSubscriber {
        try RedisSubscriber(configuration: RedisConfiguration(url: TestRedis.url), pingInterval: pingInterval)
    }

    /// The number of subscribers the server counts for `channel`.
    func numsub(_ channel: String, on connection: RedisConnection? = nil) async throws -> Int64? {
        let reply = try await (connection ?? publisher).send("PUBSUB", "NUMSUB", RedisArgument(channel))
        return reply.array?.last?.int
    }

    @Test func messageArrivesWithChannelAndPayload() async throws {
        let subscriber = try subscriber()
        defer { subscriber.close() }
        let (publisher, channel) = (self.publisher, self.channel)
        try await withTimeout(.seconds(20), "subscribe and receive") {
            try await subscriber.subscribe(to: [channel]) { subscription in
                #expect(subscription.channels == [channel])
                #expect(subscriber.isSubscribedToAll)
                try await collecting(subscription) { log in
                    #expect(try await publisher.send("PUBLISH", RedisArgument(channel), "hello") == .integer(1))
                    let binary = allByteValues(repeating: 2) + [13, 10, 0]
                    #expect(
                        try await publisher.send("PUBLISH", RedisArgument(channel), RedisArgument(binary))
                            == .integer(1))
                    #expect(try await publisher.send("PUBLISH", RedisArgument(channel), "") == .integer(1))
                    try await waitUntil(timeout: .seconds(5), "three messages arrive") { log.events.count >= 3 }
                    #expect(
                        log.events == [
                            .message(channel: channel, payload: Array("hello".utf8)),
                            .message(channel: channel, payload: binary),
                            .message(channel: channel, payload: []),
                        ])
                }
            }
        }
    }

    @Test func subscriptionOnlySeesItsChannels() async throws {
        let subscriber = try subscriber()
        defer { subscriber.close() }
        let (publisher, channel) = (self.publisher, self.channel)
        let (a, b, c) = ("\(channel):a", "\(channel):b", "\(channel):ü✓ c")
        try await withTimeout(.seconds(20), "two subscriptions on different channels") {
            try await subscriber.subscribe(to: [a, b, a]) { both in
                #expect(Set(both.channels) == [a, b])
                try await subscriber.subscribe(to: [c]) { onlyC in
                    try await collecting(both) { bothLog in
                        try await collecting(onlyC) { cLog in
                            for name in [a, b, c] {
                                #expect(
                                    try await publisher.send("PUBLISH", RedisArgument(name), RedisArgument(name))
                                        == .integer(1))
                            }
                            try await waitUntil(timeout: .seconds(5), "the messages arrive") {
                                bothLog.events.count >= 2 && cLog.events.count >= 1
                            }
                            #expect(bothLog.messages.map(\.channel) == [a, b])
                            #expect(bothLog.messages.map(\.payload) == [Array(a.utf8), Array(b.utf8)])
                            #expect(cLog.messages.map(\.channel) == [c])
                        }
                    }
                }
            }
        }
    }

    @Test func twoSubscriptionsToTheSameChannelBothReceive() async throws {
        let subscriber = try subscriber()
        defer { subscriber.close() }
        let (publisher, channel) = (self.publisher, self.channel)
        try await withTimeout(.seconds(20), "two subscriptions to one channel") {
            try await subscriber.subscribe(to: [channel]) { first in
                // One collector for the outer subscription's whole life: ending an iteration by cancelling it ends
                // an AsyncStream for good.
                try await collecting(first) { firstLog in
                    try await subscriber.subscribe(to: [channel]) { second in
                        try await collecting(second) { secondLog in
                            // One server-side subscription serves both.
                            #expect(
                                try await publisher.send("PUBLISH", RedisArgument(channel), "to-both") == .integer(1))
                            try await waitUntil(timeout: .seconds(5), "both receive") {
                                firstLog.events.count >= 1 && secondLog.events.count >= 1
                            }
                            let expected = RedisSubscriptionEvent.message(
                                channel: channel, payload: Array("to-both".utf8))
                            #expect(firstLog.events == [expected])
                            #expect(secondLog.events == [expected])
                        }
                    }
                    // The inner subscription left; the channel stays subscribed for the outer one.
                    #expect(try await numsub(channel) == 1)
                    #expect(try await publisher.send("PUBLISH", RedisArgument(channel), "still") == .integer(1))
                    try await waitUntil(timeout: .seconds(5), "the outer still receives") {
                        firstLog.contains(channel: channel, payload: Array("still".utf8))
                    }
                }
            }
        }
    }

    @Test func addingAChannelDoesNotWaitForTheReadingSubscription() async throws {
        // A long keepalive interval: if subscribing waited for the I/O thread's next timer, it would take a minute.
        let subscriber = try subscriber(pingInterval: .seconds(60))
        defer { subscriber.close() }
        let (publisher, channel) = (self.publisher, self.channel)
        let (first, second) = ("\(channel):1", "\(channel):2")
        try await withTimeout(.seconds(30), "whole test") {
            try await subscriber.subscribe(to: [first]) { firstSubscription in
                try await collecting(firstSubscription) { firstLog in
                    // The first subscription is now waiting for messages and the connection's thread is idle in poll.
                    try await withTimeout(.seconds(5), "subscribing to a second channel") {
                        try await subscriber.subscribe(to: [second]) { secondSubscription in
                            try await collecting(secondSubscription) { secondLog in
                                #expect(try await publisher.send("PUBLISH", RedisArgument(second), "2") == .integer(1))
                                #expect(try await publisher.send("PUBLISH", RedisArgument(first), "1") == .integer(1))
                                try await waitUntil(timeout: .seconds(4), "both channels deliver") {
                                    secondLog.contains(channel: second, payload: Array("2".utf8))
                                        && firstLog.contains(channel: first, payload: Array("1".utf8))
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    @Test func leavingTheClosureUnsubscribes() async throws {
        let subscriber = try subscriber()
        defer { subscriber.close() }
        let (channel, publisher) = (self.channel, self.publisher)
        try await withTimeout(.seconds(20), "subscribe") {
            try await subscriber.subscribe(to: [channel]) { _ in
                let reply = try await publisher.send("PUBSUB", "NUMSUB", RedisArgument(channel))
                #expect(reply.array?.last == .integer(1))
            }
        }
        try await waitUntil(timeout: .seconds(5), "the channel is unsubscribed") { try await numsub(channel) == 0 }
        #expect(try await publisher.send("PUBLISH", RedisArgument(channel), "nobody") == .integer(0))
    }

    @Test func resubscribingRightAfterLeaving() async throws {
        let subscriber = try subscriber()
        defer { subscriber.close() }
        let (channel, publisher) = (self.channel, self.publisher)
        // Leave and subscribe again at once, many times: each subscribe must be confirmed and receive.
        for round in 0..<30 {
            try await withTimeout(.seconds(5), "subscribe round \(round)") {
                try await subscriber.subscribe(to: [channel]) { subscription in
                    try await collecting(subscription) { log in
                        let payload = Array("round \(round)".utf8)
                        #expect(
                            try await publisher.send("PUBLISH", RedisArgument(channel), RedisArgument(payload))
                                == .integer(1))
                        try await waitUntil(timeout: .seconds(4), "round \(round) message") {
                            log.contains(channel: channel, payload: payload)
                        }
                    }
                }
            }
        }
        try await waitUntil(timeout: .seconds(5), "the channel is unsubscribed at the end") {
            try await numsub(channel) == 0
        }
    }

    /// A subscription whose reader falls behind by more than ``RedisSubscriber/bufferLimit`` events loses the
    /// oldest, and must then be told so with a `.gap`: a loss must never be silent.
    @Test func overflowingTheBufferDeliversAGap() async throws {
        let slowSubscriber = try subscriber()
        defer { slowSubscriber.close() }
        let observer = try subscriber()
        defer { observer.close() }
        let (publisher, channel) = (self.publisher, self.channel)
        let count = RedisSubscriber.bufferLimit + 1000
        let (messages, gaps) = try await withTimeout(.seconds(60), "overflow") {
            try await slowSubscriber.subscribe(to: [channel]) { slow in
                try await observer.subscribe(to: [channel]) { fast in
                    try await collecting(fast) { fastLog in
                        // Publish without reading the slow subscription.
                        for start in stride(from: 0, to: count, by: 1000) {
                            let batch = (start..<min(start + 1000, count)).map {
                                RedisCommand("PUBLISH", RedisArgument(channel), RedisArgument("m\($0)"))
                            }
                            let replies = try await publisher.pipeline(batch)
                            #expect(replies.allSatisfy { (try? $0.get()) == .integer(2) })
                        }
                        #expect(try await publisher.send("PUBLISH", RedisArgument(channel), "end") == .integer(2))
                        // The observer saw the last one: the server has sent everything to both connections.
                        try await waitUntil(timeout: .seconds(20), "the observer sees the end") {
                            fastLog.contains(channel: channel, payload: Array("end".utf8))
                        }
                        var (messages, gaps) = (0, 0)
                        for await event in slow {
                            if event == .message(channel: channel, payload: Array("end".utf8)) { break }
                            if event == .gap { gaps += 1 } else { messages += 1 }
                        }
                        return (messages, gaps)
                    }
                }
            }
        }
        #expect(messages <= count)
        #expect(messages >= RedisSubscriber.bufferLimit - 2)
        if messages < count {
            // Messages were dropped: a gap says so (and not one per dropped message).
            #expect(gaps >= 1, "\(count - messages) messages were dropped without a gap")
            #expect(gaps <= 2)
        } else {
            #expect(gaps == 0)
        }
    }

    @Test func cancellingASubscriptionEndsIt() async throws {
        let subscriber = try subscriber()
        defer { subscriber.close() }
        let (channel, publisher) = (self.channel, self.publisher)
        let received = Locked(0)
        let outcome = Locked<String?>(nil)
        let task = Task {
            do {
                try await subscriber.subscribe(to: [channel]) { subscription in
                    for await _ in subscription { received.withLock { $0 += 1 } }
                }
                outcome.withLock { $0 = "returned" }
            } catch {
                outcome.withLock { $0 = "threw \(error)" }
            }
        }
        try await waitUntil(timeout: .seconds(5), "subscribed") { try await numsub(channel) == 1 }
        try await waitUntil(timeout: .seconds(5), "a message arrives") {
            _ = try await publisher.send("PUBLISH", RedisArgument(channel), "x")
            return received.value > 0
        }
        task.cancel()
        try await waitUntil(timeout: .seconds(5), "the cancelled subscription returns") { outcome.value != nil }
        #expect(outcome.value == "returned")
        try await waitUntil(timeout: .seconds(5), "the channel is unsubscribed") { try await numsub(channel) == 0 }
    }

    @Test func closeEndsTheSequenceAndRefusesNewSubscriptions() async throws {
        let subscriber = try subscriber()
        let (channel, publisher) = (self.channel, self.publisher)
        let returned = try await withTimeout(.seconds(20), "subscription ends on close") {
            try await subscriber.subscribe(to: [channel]) { subscription in
                try await collecting(subscription) { log in
                    #expect(try await publisher.send("PUBLISH", RedisArgument(channel), "before") == .integer(1))
                    try await waitUntil(timeout: .seconds(5), "a message") { log.events.count == 1 }
                    subscriber.close()
                    try await waitUntil(timeout: .seconds(5), "the sequence ends") { log.hasEnded }
                    return true
                }
            }
        }
        #expect(returned)
        let error = await redisError { try await subscriber.subscribe(to: [channel]) { _ in } }
        #expect(error?.code == .clientClosed)
        try await waitUntil(timeout: .seconds(5), "the server forgets the subscriber") {
            try await numsub(channel) == 0
        }
    }

    @Test func subscribingToAnUnreachableServerFails() async throws {
        let closed = try RefusingPort()
        let subscriber = try RedisSubscriber(configuration: RedisConfiguration(url: "redis://127.0.0.1:\(closed.port)"))
        defer { subscriber.close() }
        let error = try await withTimeout(.seconds(10), "subscribe fails") {
            await redisError { try await subscriber.subscribe(to: ["x"]) { _ in } }
        }
        #expect(error?.code == .connectionFailed)
        withExtendedLifetime(closed) {}
    }

    @Test func invalidArguments() throws {
        let configuration = try RedisConfiguration(url: TestRedis.url)
        #expect(throws: RedisError.self) { try RedisSubscriber(configuration: configuration, pingInterval: .zero) }
    }

    @Test func emptyChannelListIsRefused() async throws {
        let subscriber = try subscriber()
        defer { subscriber.close() }
        let error = await redisError { try await subscriber.subscribe(to: []) { _ in } }
        #expect(error?.code == .invalidConfiguration)
    }

    /// CLIENT KILL and a stopped server affect the whole server: on servers of our own.
    @Test func waitingSubscribeFailsOnCloseAndOnCancel() async throws {
        try await withRedisServer { server in
            let subscriber = try RedisSubscriber(
                configuration: configuration(for: server, commandTimeout: .seconds(60)))
            server.signal(SIGSTOP)
            // The TCP connection is accepted by the kernel, but no SUBSCRIBE confirmation can come.
            let cancelledOutcome = Locked<RedisError??>(nil)
            let cancelled = Task {
                let error = await redisError { try await subscriber.subscribe(to: ["a"]) { _ in } }
                cancelledOutcome.withLock { $0 = .some(error) }
            }
            let closedOutcome = Locked<RedisError??>(nil)
            Task {
                let error = await redisError { try await subscriber.subscribe(to: ["b"]) { _ in } }
                closedOutcome.withLock { $0 = .some(error) }
            }
            try await waitUntil(timeout: .seconds(5), "a subscription is pending") { !subscriber.isSubscribedToAll }
            cancelled.cancel()
            try await waitUntil(timeout: .seconds(5), "the cancelled subscribe returns") {
                cancelledOutcome.value != nil
            }
            #expect(cancelledOutcome.value??.code == .cancelled)
            subscriber.close()
            try await waitUntil(timeout: .seconds(5), "the closed subscribe returns") { closedOutcome.value != nil }
            #expect(closedOutcome.value??.code == .clientClosed)
        }
    }

    @Test(arguments: TestWire.allCases)
    func clientKillGivesAGapThenMessagesAgain(over wire: TestWire) async throws {
        try await withRedisServer(over: wire) { server in
            let configuration = try configuration(for: server)
            let subscriber = try RedisSubscriber(configuration: configuration)
            defer { subscriber.close() }
            let publisher = try RedisConnection(configuration: configuration)
            try await withTimeout(.seconds(30), "kill and recover") {
                try await subscriber.subscribe(to: ["news", "other"]) { subscription in
                    try await collecting(subscription) { log in
                        #expect(try await publisher.send("PUBLISH", "news", "before") == .integer(1))
                        try await waitUntil(timeout: .seconds(5), "before") { log.events.count == 1 }
                        #expect(try await publisher.send("CLIENT", "KILL", "TYPE", "pubsub") == .integer(1))
                        try await waitUntil(timeout: .seconds(10), "a gap, then a new message") {
                            _ = try? await publisher.send("PUBLISH", "news", "after")
                            return log.hasMessageAfterGap(channel: "news")
                        }
                        let events = log.events
                        #expect(events.first == .message(channel: "news", payload: Array("before".utf8)))
                        // A gap per resubscribed channel of the subscription (one reconnect): one or two here.
                        #expect((1...2).contains(events.filter { $0 == .gap }.count))
                        #expect(subscriber.isSubscribedToAll)
                        // Both channels were resubscribed and deliver again.
                        #expect(try await publisher.send("PUBLISH", "other", "other-after") == .integer(1))
                        try await waitUntil(timeout: .seconds(5), "the other channel delivers") {
                            log.contains(channel: "other", payload: Array("other-after".utf8))
                        }
                    }
                }
            }
        }
    }

    @Test(arguments: TestWire.allCases)
    func serverRestartGivesAGapThenMessagesAgain(over wire: TestWire) async throws {
        try await withRedisServer(over: wire) { server in
            let configuration = try configuration(for: server)
            let subscriber = try RedisSubscriber(configuration: configuration)
            defer { subscriber.close() }
            let publisher = try RedisConnection(configuration: configuration)
            try await withTimeout(.seconds(40), "restart and recover") {
                try await subscriber.subscribe(to: ["news"]) { subscription in
                    try await collecting(subscription) { log in
                        #expect(try await publisher.send("PUBLISH", "news", "before") == .integer(1))
                        try await waitUntil(timeout: .seconds(5), "before") { log.events.count == 1 }
                        try await server.stop()
                        try await server.start()
                        try await waitUntil(timeout: .seconds(15), "a gap, then a new message") {
                            _ = try? await publisher.send("PUBLISH", "news", "after")
                            return log.hasMessageAfterGap(channel: "news")
                        }
                        #expect(log.events.first == .message(channel: "news", payload: Array("before".utf8)))
                        #expect(log.events.filter { $0 == .gap }.count == 1)
                    }
                }
            }
        }
    }

    @Test func silentServerIsDetectedByKeepalive() async throws {
        try await withRedisServer { server in
            // A short keepalive and command timeout: a stopped server is noticed and the subscription gets a gap
            // once the server runs again.
            let configuration = try configuration(for: server, commandTimeout: .milliseconds(300))
            let subscriber = try RedisSubscriber(configuration: configuration, pingInterval: .milliseconds(200))
            defer { subscriber.close() }
            let publisher = try RedisConnection(configuration: RedisClient.RedisConfiguration(url: server.url))
            try await withTimeout(.seconds(30), "keepalive") {
                try await subscriber.subscribe(to: ["news"]) { subscription in
                    try await collecting(subscription) { log in
                        server.signal(SIGSTOP)
                        try await waitUntil(timeout: .seconds(10), "the subscriber notices the silence") {
                            !subscriber.isSubscribedToAll
                        }
                        server.signal(SIGCONT)
                        try await waitUntil(timeout: .seconds(15), "a gap, then a new message") {
                            _ = try? await publisher.send("PUBLISH", "news", "after")
                            return log.hasMessageAfterGap(channel: "news")
                        }
                    }
                }
            }
        }
    }
}
