import RedisClient
import RedisTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// How a subscription survives a lost connection. CLIENT KILL and a stopped server affect the whole server: these
/// tests run on servers of their own.
@Suite("Pub/sub subscriber: lost connections and silent servers")
struct SubscriberConnectionLossTests: SubscriberSuite {
    let publisher: RedisConnection
    let channel = TestRedis.uniquePrefix("chan")

    init() throws { publisher = try sharedConnection() }

    @Test func waitingSubscribeFailsOnCloseAndOnCancel() async throws {
        try await withRedisServer { server in
            let subscriber = try RedisSubscriber(
                configuration: configuration(for: server, commandTimeout: .seconds(60))
            )
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
