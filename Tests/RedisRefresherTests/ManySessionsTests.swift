import RedisClient
import RedisRefresher
import RedisTestSupport
import Synchronization
import Testing

/// Many sessions in one process: refreshers that share ``RefresherConnections`` cost nothing while idle and leave
/// nothing behind when they go.
@Suite("Many sessions")
struct ManySessionsTests {
    /// How many clients the server has subscribed to `channel`.
    static func subscribers(_ redis: RedisConnection, _ channel: String) async throws -> Int64 {
        let reply = try await redis.send("PUBSUB", "NUMSUB", RedisArgument(channel))
        return reply.array?.last?.int ?? -1
    }

    /// A session stored for `name` that expires in two hours.
    static func store(_ name: String, on redis: RedisConnection) async throws {
        let keys = SessionKeys(session: try SessionName(name))
        try await SessionAdmin(connection: redis, keys: keys).putSession(
            RefreshedTokens(accessToken: "a-\(name)", refreshToken: "r-\(name)", expiresIn: .seconds(7200))
        )
    }

    static func refresher(
        _ name: String,
        url: String,
        connections: RefresherConnections,
        pollInterval: Duration = .seconds(1)
    ) async throws -> RedisRefresher {
        try await RedisRefresher(
            configuration: .init(
                redisURL: url,
                session: name,
                pollInterval: pollInterval,
                refreshAhead: .seconds(600)
            ),
            connections: connections,
            logger: Scenario.quietLogger
        ) { _ in
            Issue.record("nothing is due: no refresh")
            return RefreshedTokens(accessToken: "b", refreshToken: "s", expiresIn: .seconds(7200))
        }
    }

    @Test("A refresher that shuts down unsubscribes its session's channel unless another refresher of it listens")
    func channelFollowsItsRefreshers() async throws {
        let scenario = try Scenario(name: "listen")
        try await withRefresherConnections { connections in
            let first = try await Self.refresher(scenario.session, url: scenario.url, connections: connections)
            let second = try await Self.refresher(scenario.session, url: scenario.url, connections: connections)
            try await waitUntil(timeout: .seconds(15), "subscribed") { second.isListeningForEvents }
            #expect(try await Self.subscribers(scenario.redis, scenario.keys.events) == 1)
            await first.shutdown()
            // The other refresher of the session still hears the fleet.
            #expect(second.isListeningForEvents)
            #expect(try await Self.subscribers(scenario.redis, scenario.keys.events) == 1)
            let stream = second.events()
            try await Self.store(scenario.session, on: scenario.redis)
            var iterator = stream.makeAsyncIterator()
            guard case .replaced = await iterator.next() else {
                Issue.record("the remaining refresher did not hear the replacement")
                return
            }
            await second.shutdown()
            try await waitUntil(timeout: .seconds(15), "unsubscribed") {
                try await Self.subscribers(scenario.redis, scenario.keys.events) == 0
            }
        }
    }

    @Test("Sessions that come and go, shut down or just dropped, leave no subscription behind")
    func churnLeavesNothing() async throws {
        let scenario = try Scenario(name: "churn")
        let names = (0..<50).map { "\(scenario.session)-\($0)" }
        try await withRefresherConnections { connections in
            for (index, name) in names.enumerated() {
                let refresher = try await Self.refresher(name, url: scenario.url, connections: connections)
                try await waitUntil(timeout: .seconds(15), "\(name) subscribed") { refresher.isListeningForEvents }
                // Half are shut down, half are simply released (their deinit gives the channel back).
                if index.isMultiple(of: 2) { await refresher.shutdown() }
            }
            let channels = try names.map { SessionKeys(session: try SessionName($0)).events }
            try await waitUntil(timeout: .seconds(15), "every channel unsubscribed") {
                let reply = try await scenario.redis.send(
                    RedisCommand(["PUBSUB", "NUMSUB"] + channels.map { RedisArgument($0) })
                )
                let counts = (reply.array ?? []).enumerated().filter { $0.offset % 2 == 1 }.map { $0.element.int }
                return counts.count == channels.count && counts.allSatisfy { $0 == 0 }
            }
            // The connections still serve new sessions.
            let again = try await Self.refresher(names[0], url: scenario.url, connections: connections)
            try await waitUntil(timeout: .seconds(15), "subscribed again") { again.isListeningForEvents }
            #expect(try await Self.subscribers(scenario.redis, channels[0]) == 1)
        }
    }

    @Test("Idle refreshers send Redis nothing but the subscriber's keepalive, and the scripts go out once")
    func idleSessionsAreSilent() async throws {
        try await withRedisServer { server in
            let redis = try RedisConnection(url: server.url)
            defer { redis.close() }
            let names = (0..<100).map { "idle-\($0)" }
            for name in names { try await Self.store(name, on: redis) }
            try await withRefresherConnections(url: server.url) { connections in
                // A short poll interval, so that any polling would show within the window below.
                let poll = Duration.milliseconds(50)
                let first = try await Self.refresher(
                    names[0],
                    url: server.url,
                    connections: connections,
                    pollInterval: poll
                )
                let loads = try await Self.scriptLoads(redis)
                #expect(loads > 0)
                try await withRefreshers(count: names.count - 1) { index in
                    try await Self.refresher(
                        names[index + 1],
                        url: server.url,
                        connections: connections,
                        pollInterval: poll
                    )
                } _: { refreshers in
                    for refresher in [first] + refreshers {
                        #expect(try await refresher.credentials().accessToken.hasPrefix("a-"))
                    }
                    try await waitUntil(timeout: .seconds(15), "every session subscribed") {
                        refreshers.allSatisfy(\.isListeningForEvents)
                    }
                    #expect(try await Self.scriptLoads(redis) == loads)
                    let monitor = try RedisMonitor(configuration: RedisConfiguration(url: server.url))
                    try await monitor.start()
                    let seen = Mutex<[String]>([])
                    let collecting = Task {
                        for await line in monitor.lines { seen.withLock { $0.append(line) } }
                    }
                    // Twenty poll intervals of nobody calling; a marker shows the monitor saw the whole window.
                    try await Task.sleep(for: poll * 20)
                    _ = try await redis.send("ECHO", "end-of-window")
                    try await waitUntil(timeout: .seconds(5), "the monitor saw the marker") {
                        seen.withLock { $0.contains { $0.contains("\"end-of-window\"") } }
                    }
                    monitor.close()
                    await collecting.value
                    let lines = seen.withLock { $0 }
                    let sent = lines.filter {
                        !$0.lowercased().contains("] \"ping\"") && !$0.contains("\"end-of-window\"")
                    }
                    #expect(sent.isEmpty, "\(sent.prefix(5))")
                }
                await first.shutdown()
            }
        }
    }

    /// How many times the server ran `SCRIPT LOAD`.
    static func scriptLoads(_ redis: RedisConnection) async throws -> Int64 {
        let info = try await redis.send("INFO", "commandstats").string ?? ""
        guard let line = info.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("cmdstat_script|load:") }),
            let calls = line.split(separator: ",").first?.split(separator: "=").last
        else { return 0 }
        return Int64(calls) ?? 0
    }
}
