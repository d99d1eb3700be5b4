import RedisClient
import RedisTestSupport
import Testing

/// The client against a real Sentinel setup on loopback: a primary, replicas and sentinels started per test.
@Suite("Sentinel: discovery and failover", .serialized)
struct SentinelTests {
    /// The port of the node a connection talks to, as that node says.
    static func port(of connection: RedisConnection) async throws -> Int {
        let info = try await connection.send("INFO", "server").string ?? ""
        let line = info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("tcp_port:") }
        return Int(line?.dropFirst("tcp_port:".count) ?? "") ?? -1
    }

    @Test("The connection reaches the primary the sentinels name, with one sentinel down")
    func discovery() async throws {
        try await SentinelTopology.with(.init(replicas: 1, sentinels: 3)) { topology in
            try await topology.stopSentinel(0)
            let connection = try RedisConnection(url: topology.sentinelURL)
            defer { connection.close() }
            try await connection.send("SET", "sentinel-test", "v")
            #expect(try await connection.send("ROLE").array?.first?.string == "master")
            #expect(try await Self.port(of: connection) == topology.primaryPort())
        }
    }

    @Test("A name no sentinel knows is a configuration error that says so; all sentinels down says why for each")
    func wrongNameAndAllDown() async throws {
        try await SentinelTopology.with(.init(replicas: 0, sentinels: 2)) { topology in
            let wrong = topology.sentinelURL.replacingOccurrences(of: "#mymaster", with: "#nope")
            do {
                try await RedisConnection(url: wrong).send("PING")
                Issue.record("a wrong primary name connected")
            } catch let error as RedisError {
                #expect(error.code == .invalidConfiguration)
                #expect(error.message.contains("knows no primary named 'nope'"), "\(error.message)")
            }
            for index in topology.sentinels.indices { try await topology.stopSentinel(index) }
            var configuration = try RedisConfiguration(url: topology.sentinelURL)
            configuration.connectTimeout = .seconds(2)
            let started = ContinuousClock.now
            do {
                try await RedisConnection(configuration: configuration).send("PING")
                Issue.record("connected without sentinels")
            } catch let error as RedisError {
                #expect(error.code == .connectionFailed)
                for sentinel in topology.sentinels {
                    #expect(error.message.contains("127.0.0.1:\(sentinel.port)"), "\(error.message)")
                }
            }
            #expect(ContinuousClock.now - started < .seconds(10))
        }
    }

    @Test("After SENTINEL FAILOVER an idle connection and a subscriber move to the new primary (+switch-master)")
    func followsFailover() async throws {
        try await SentinelTopology.with(.init(replicas: 1, sentinels: 1)) { topology in
            let connection = try RedisConnection(url: topology.sentinelURL)
            let subscriber = try RedisSubscriber(configuration: RedisConfiguration(url: topology.sentinelURL))
            defer {
                connection.close()
                subscriber.close()
            }
            let script = RedisScript("return redis.call('INCR', KEYS[1])")
            #expect(try await connection.run(script, keys: ["sentinel-script"]).int == 1)
            #expect(try await connection.send("WAIT", "1", "5000").int == 1)
            let oldPort = try await Self.port(of: connection)
            try await subscriber.subscribe(to: ["sentinel-events"]) { subscription in
                let failover = try await topology.failover()
                #expect(failover.oldPrimaryPort == oldPort)
                // The old primary still says it is one for a while after a forced failover: only +switch-master
                // moves this idle connection away from it before it writes there.
                try await waitUntil(timeout: .seconds(10), "the connection talks to the new primary") {
                    try await Self.port(of: connection) == failover.newPrimaryPort
                }
                // The new primary never loaded the script: NOSCRIPT, then EVAL.
                let direct = try RedisConnection(url: topology.nodeURL(port: failover.newPrimaryPort))
                defer { direct.close() }
                #expect(
                    try await direct.send("SCRIPT", "EXISTS", RedisArgument(script.sha1)).array?.first?.int == 0
                )
                #expect(try await connection.run(script, keys: ["sentinel-script"]).int == 2)
                #expect(
                    try await direct.send("SCRIPT", "EXISTS", RedisArgument(script.sha1)).array?.first?.int == 1
                )
                // The subscriber reports the gap, then hears what is published on the new primary.
                var iterator = subscription.makeAsyncIterator()
                #expect(await iterator.next() == .gap)
                try await direct.send("PUBLISH", "sentinel-events", "after")
                #expect(await iterator.next() == .message(channel: "sentinel-events", payload: Array("after".utf8)))
            }
        }
    }

    @Test("After kill -9 of the primary, commands reach the promoted replica")
    func followsCrash() async throws {
        try await SentinelTopology.with(.init(replicas: 1, sentinels: 3)) { topology in
            var configuration = try RedisConfiguration(url: topology.sentinelURL)
            configuration.commandTimeout = .seconds(1)
            let connection = try RedisConnection(configuration: configuration)
            defer { connection.close() }
            try await connection.send("SET", "before-crash", "1")
            try await connection.send("WAIT", "1", "1000")
            let crashed = try await topology.crashPrimary()
            let promoted = try await topology.waitForNewPrimary(notOn: crashed)
            try await waitUntil(timeout: .seconds(20), "a write reaches the promoted replica") {
                (try? await connection.send("SET", "after-crash", "1")) != nil
            }
            #expect(try await Self.port(of: connection) == promoted)
            #expect(try await connection.send("GET", "before-crash").string == "1")
        }
    }

    @Test("Sentinels with a password of their own, data nodes with another")
    func passwords() async throws {
        try await SentinelTopology.with(
            .init(replicas: 0, sentinels: 1, password: "data-Pa55", sentinelPassword: "sentinel-Pa55")
        ) { topology in
            let url = topology.sentinelURL(sentinelPasswordParameter: "sentinel_password")
            #expect(try await RedisConnection(url: url).send("PING").string == "PONG")
            // Without the sentinels' password the sentinels refuse, and the error says so (never the password).
            do {
                try await RedisConnection(url: topology.sentinelURL).send("PING")
                Issue.record("connected without the sentinels' password")
            } catch let error as RedisError {
                // Refused credentials are a configuration error, not an outage to retry.
                #expect(error.code == .authenticationFailed)
                #expect(error.message.contains("NOAUTH") || error.message.contains("auth"), "\(error.message)")
                #expect(!error.message.contains("Pa55"))
            }
        }
    }
}
