import RedisClient
import RedisTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Pub/sub subscriber: messages and subscriptions")
struct SubscriberMessageTests: SubscriberSuite {
    let publisher: RedisConnection
    let channel = TestRedis.uniquePrefix("chan")

    init() throws { publisher = try sharedConnection() }

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
                            == .integer(1)
                    )
                    #expect(try await publisher.send("PUBLISH", RedisArgument(channel), "") == .integer(1))
                    try await waitUntil(timeout: .seconds(5), "three messages arrive") { log.events.count >= 3 }
                    #expect(
                        log.events == [
                            .message(channel: channel, payload: Array("hello".utf8)),
                            .message(channel: channel, payload: binary),
                            .message(channel: channel, payload: []),
                        ]
                    )
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
                                        == .integer(1)
                                )
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
                                try await publisher.send("PUBLISH", RedisArgument(channel), "to-both") == .integer(1)
                            )
                            try await waitUntil(timeout: .seconds(5), "both receive") {
                                firstLog.events.count >= 1 && secondLog.events.count >= 1
                            }
                            let expected = RedisSubscriptionEvent.message(
                                channel: channel,
                                payload: Array("to-both".utf8)
                            )
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
                                == .integer(1)
                        )
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
}
