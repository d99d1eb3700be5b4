import RedisClient
import RedisTestSupport

/// What the subscriber's suites share: a publisher on the shared test server and a channel of the test's own.
protocol SubscriberSuite {
    var publisher: RedisConnection { get }
    var channel: String { get }
}

extension SubscriberSuite {
    func subscriber(pingInterval: Duration = .seconds(2)) throws -> RedisSubscriber {
        try RedisSubscriber(configuration: RedisConfiguration(url: TestRedis.url), pingInterval: pingInterval)
    }

    /// The number of subscribers the server counts for `channel`.
    func numsub(_ channel: String, on connection: RedisConnection? = nil) async throws -> Int64? {
        let reply = try await (connection ?? publisher).send("PUBSUB", "NUMSUB", RedisArgument(channel))
        return reply.array?.last?.int
    }
}
