import MetricsTestKit
import RedisClient
import RedisRefresher
import RedisTestSupport
import Synchronization
import Testing

extension RefresherFeatures {
    @Suite("Refresh ahead of expiry")
    struct RefreshAheadTests {
        @Test("Credentials that already expired are refreshed before credentials() returns them")
        func expiredCredentialsWait() async throws {
            let scenario = try Scenario()
            let configuration = scenario.configuration(refreshAhead: .milliseconds(100))
            try await withRefresher(scenario.refresher(configuration)) { refresher in
                let seeded = try await scenario.seedWithoutReading(by: refresher, lifetime: .seconds(1))
                #expect(try await scenario.idp.refreshCount() == 0)
                let expiresAt = try #require(seeded.expiresAtMilliseconds)
                try await waitUntil(timeout: .seconds(15), "the seeded token expires") {
                    UnixTime.nowMilliseconds > expiresAt
                }
                // Nobody called credentials() inside the margin: the first call after the expiry waits for the
                // refresh.
                let fresh = try await refresher.credentials()
                #expect(fresh.generation == seeded.generation + 1)
                #expect(!fresh.isExpired())
                #expect(try await scenario.idp.refreshCount() == 1)
            }
        }

        @Test("The margin is capped at half a token's lifetime, so short-lived tokens are not refreshed over and over")
        func marginCappedAtHalfLifetime() async throws {
            let scenario = try Scenario()
            let metrics = TestMetrics()
            // Far more than the lifetime: uncapped, every read would start a refresh.
            let configuration = scenario.configuration(refreshAhead: .seconds(60))
            let refresh = scenario.refreshFunction(lifetime: .seconds(6))
            try await withRefresher(scenario.refresher(configuration, metrics: metrics, refresh: refresh)) {
                refresher in
                let seeded = try await scenario.seedWithoutReading(by: refresher, lifetime: .seconds(6))
                #expect(try await refresher.credentials().generation == seeded.generation)
                #expect(metrics.counterTotal(label: RefresherMetricNames.refreshesAhead) == 0)
                try await waitUntil(timeout: .seconds(15), "a refresh ahead of expiry") {
                    try await refresher.credentials().generation == seeded.generation + 1
                }
                let refreshedAt = UnixTime.nowMilliseconds
                // For the next 600 ms (well inside the new token's first half, 3 s) reads start nothing.
                while UnixTime.nowMilliseconds < refreshedAt + 600 {
                    #expect(try await refresher.credentials().generation == seeded.generation + 1)
                    try await Task.sleep(for: .milliseconds(5))
                }
                #expect(try await scenario.idp.refreshCount() == 1)
                #expect(metrics.counterTotal(label: RefresherMetricNames.refreshesAhead) == 1)
            }
        }

        @Test("A failing refresh ahead keeps serving the still valid token and retries no sooner than a poll interval")
        func failingRefreshAhead() async throws {
            let scenario = try Scenario()
            // One presentation per refresh (no holder retries), so the count below is the count of refreshes ahead.
            var configuration = scenario.configuration(pollInterval: .milliseconds(200), refreshAhead: .seconds(10))
            configuration.retry = .init(maximumAttempts: 1)
            // The identity provider is down: every presentation is refused unprocessed.
            let presentations = Atomic<Int>(0)
            let refresh: RedisRefresher.RefreshFunction = { _ in
                presentations.add(1, ordering: .relaxed)
                throw RefreshFailure.notProcessed("HTTP 503")
            }
            try await withRefresher(scenario.refresher(configuration, refresh: refresh)) { refresher in
                let seeded = try await scenario.seedWithoutReading(by: refresher, lifetime: .seconds(4))
                let expiresAt = try #require(seeded.expiresAtMilliseconds)
                // The margin is half the lifetime (2 s): reads in the second half start refreshes that fail.
                try await waitUntil(timeout: .seconds(15), "a first refresh ahead") {
                    _ = try await refresher.credentials()
                    return presentations.load(ordering: .relaxed) >= 1
                }
                let windowStart = ContinuousClock.now
                while UnixTime.nowMilliseconds < expiresAt - 300 {
                    #expect(try await refresher.credentials().accessToken == seeded.accessToken)
                    try await Task.sleep(for: .milliseconds(5))
                }
                let window = (ContinuousClock.now - windowStart).components
                let windowMilliseconds = Int(window.seconds * 1000 + window.attoseconds / 1_000_000_000_000_000)
                // Retried, but at most once per poll interval: a few attempts, not hundreds.
                let attempts = presentations.load(ordering: .relaxed)
                #expect(attempts >= 2)
                #expect(attempts <= 2 + windowMilliseconds / 200, "\(attempts) attempts in \(windowMilliseconds) ms")
            }
        }

        @Test("Sessions whose tokens expire together refresh ahead at different instants, spread over the window")
        func spreadAcrossSessions() async throws {
            let scenario = try Scenario(name: "spread")
            let count = 200
            // A 10-minute window spread over its first half (the default): each session starts between 10 and 5
            // minutes before the expiry. Every token expires in 7.5 minutes, so about half of them are due now.
            let window: Int64 = 600_000
            let expiresAt = UnixTime.nowMilliseconds + 450_000
            let refreshed = Mutex<Set<String>>([])
            try await withRefresherConnections { connections in
                try await withRefreshers(count: count) { index in
                    let name = "\(scenario.session)-\(index)"
                    let keys = SessionKeys(session: try SessionName(name))
                    try await SessionAdmin(connection: scenario.redis, keys: keys).putSession(
                        RefreshedTokens(
                            accessToken: "a-\(index)",
                            refreshToken: "r-\(index)",
                            expiresAtMilliseconds: expiresAt
                        ),
                        by: connections.ownerID
                    )
                    // Issued two hours before its expiry: the half-lifetime cap stays out of the way.
                    _ = try await scenario.redis.send(
                        "HSET",
                        RedisArgument(keys.sessionHash),
                        "refreshed_at",
                        RedisArgument(expiresAt - 7_200_000)
                    )
                    var configuration = scenario.configuration(refreshAhead: .milliseconds(window))
                    configuration.session = name
                    return try await RedisRefresher(
                        configuration: configuration,
                        connections: connections,
                        logger: Scenario.quietLogger
                    ) { _ in
                        refreshed.withLock { _ = $0.insert(name) }
                        return RefreshedTokens(
                            accessToken: "b-\(index)",
                            refreshToken: "s-\(index)",
                            expiresIn: .seconds(7200)
                        )
                    }
                } _: { refreshers in
                    var dues: [Int64] = []
                    var due: Set<String> = []
                    var notDue: Set<String> = []
                    var generations: [String: Int64] = [:]
                    for refresher in refreshers {
                        let before = UnixTime.nowMilliseconds
                        let credentials = try await refresher.credentials()
                        let after = UnixTime.nowMilliseconds
                        // Still valid: served at once, whether a refresh started or not.
                        #expect(credentials.expiresAtMilliseconds == expiresAt)
                        let at = try #require(refresher.refreshAheadDueMilliseconds(for: credentials))
                        dues.append(at)
                        generations[refresher.session.rawValue] = credentials.generation
                        if at <= before { due.insert(refresher.session.rawValue) }
                        if at > after { notDue.insert(refresher.session.rawValue) }
                    }
                    // Every instant inside the spread part of the window, hardly two alike, over most of it.
                    #expect(dues.allSatisfy { $0 >= expiresAt - window && $0 <= expiresAt - window / 2 })
                    #expect(Set(dues).count >= count - 3)
                    #expect(dues.max()! - dues.min()! >= window / 2 * 8 / 10)
                    #expect(due.count >= count * 3 / 10 && due.count <= count * 7 / 10, "\(due.count) due")
                    // Exactly the sessions whose instant had come started a refresh; the others did not.
                    let dueNow = due
                    try await waitUntil(timeout: .seconds(30), "the due sessions' refreshes ahead") {
                        refreshed.withLock { dueNow.isSubset(of: $0) }
                    }
                    for refresher in refreshers where due.contains(refresher.session.rawValue) {
                        let seeded = try #require(generations[refresher.session.rawValue])
                        try await waitUntil(timeout: .seconds(15), "\(refresher.session.rawValue) refreshed") {
                            try await refresher.credentials().generation == seeded + 1
                        }
                    }
                    #expect(refreshed.withLock { $0.isDisjoint(with: notDue) })
                    #expect(due.count + notDue.count >= count - 3)
                }
            }
        }
    }
}
