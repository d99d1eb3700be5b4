import RedisClient
import RedisTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Pub/sub subscriber: cancel, close and refused subscriptions")
struct SubscriberEndTests: SubscriberSuite {
    let publisher: RedisConnection
    let channel = TestRedis.uniquePrefix("chan")

    init() throws { publisher = try sharedConnection() }

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
}
