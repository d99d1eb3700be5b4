import InMemoryLogging
import Logging
import MetricsTestKit
import RedisRefresher
import RedisTestSupport
import Synchronization
import Testing

extension RefresherFeatures {
    @Suite("Metrics")
    struct MetricsTests {
        static let allLabels = [
            RefresherMetricNames.refreshes, RefresherMetricNames.failures, RefresherMetricNames.waits,
            RefresherMetricNames.resolutions, RefresherMetricNames.takeovers, RefresherMetricNames.fencedWrites,
            RefresherMetricNames.timeouts, RefresherMetricNames.refreshesAhead,
        ]

        func session(_ scenario: Scenario) -> [(String, String)] { [("session", scenario.session)] }

        @Test("Counters and timers are created once, with the session dimension; a refresh counts and is timed")
        func createdOnceAndRefreshCounted() async throws {
            let scenario = try Scenario()
            let metrics = TestMetrics()
            try await withRefresher(scenario.refresher(latency: .milliseconds(50), metrics: metrics)) { refresher in
                #expect(metrics.counters.count == 19)
                #expect(metrics.timers.count == 2)
                #expect(metrics.counters.allSatisfy { $0.dimensions.first! == ("session", scenario.session) })
                let seeded = try await scenario.seedWithoutReading(by: refresher)
                for _ in 0..<3 {
                    _ = try await refresher.refreshAccessTokenOrReLogin(after: seeded, timeout: .seconds(10))
                }
                #expect(try metrics.expectCounter(RefresherMetricNames.refreshes, session(scenario)).totalValue == 1)
                let duration = try metrics.expectTimer(RefresherMetricNames.refreshDuration, session(scenario))
                #expect(duration.values.count == 1)
                #expect((duration.lastValue ?? 0) >= 50_000_000)
                #expect(metrics.counterTotal(label: RefresherMetricNames.failures) == 0)
                // Nothing new was created on the way.
                #expect(metrics.counters.count == 19)
                #expect(metrics.timers.count == 2)
            }
        }

        @Test("A waiter in another worker counts a wait, a pub/sub resolution and its wake-up latency")
        func waitResolvedByPubSub() async throws {
            let scenario = try Scenario()
            let holderMetrics = TestMetrics()
            let waiterMetrics = TestMetrics()
            try await withRefresher(scenario.refresher(latency: .milliseconds(400), metrics: holderMetrics)) { holder in
                try await withRefresher(scenario.refresher(metrics: waiterMetrics)) { waiter in
                    let seeded = try await scenario.seedWithoutReading(by: holder)
                    async let refreshed = holder.refreshAccessTokenOrReLogin(after: seeded, timeout: .seconds(10))
                    try await waitUntil(timeout: .seconds(15), "the holder takes the lock") {
                        try await scenario.lockValue() != nil
                    }
                    let fresh = try await waiter.refreshAccessTokenOrReLogin(after: seeded, timeout: .seconds(10))
                    #expect(try await refreshed.generation == fresh.generation)
                    #expect(
                        try waiterMetrics.expectCounter(RefresherMetricNames.waits, session(scenario)).totalValue == 1
                    )
                    #expect(metrics(waiterMetrics, resolvedVia: "pubsub", scenario) == 1)
                    #expect(metrics(waiterMetrics, resolvedVia: "poll", scenario) == 0)
                    let latency = try waiterMetrics.expectTimer(RefresherMetricNames.wakeUpLatency, session(scenario))
                    #expect(latency.values.count == 1)
                    // Woken by the event, not the 1 s poll (which the counters above tell apart); the bound only
                    // catches a wake-up that waited for a poll, with room for a loaded machine.
                    #expect((latency.lastValue ?? .max) < 2_000_000_000)
                    #expect(waiterMetrics.counterTotal(label: RefresherMetricNames.refreshes) == 0)
                    #expect(holderMetrics.counterTotal(label: RefresherMetricNames.refreshes) == 1)
                    #expect(holderMetrics.counterTotal(label: RefresherMetricNames.waits) == 0)
                }
            }
        }

        @Test("A waiter that only polls counts a poll-fallback resolution")
        func waitResolvedByPolling() async throws {
            let scenario = try Scenario()
            let metrics = TestMetrics()
            try await withRefresher(scenario.refresher(latency: .milliseconds(300))) { holder in
                let polling = scenario.configuration(pollInterval: .milliseconds(100), wakeUp: .pollingOnly)
                try await withRefresher(scenario.refresher(polling, metrics: metrics)) { waiter in
                    let seeded = try await scenario.seedWithoutReading(by: holder)
                    async let refreshed = holder.refreshAccessTokenOrReLogin(after: seeded, timeout: .seconds(10))
                    try await waitUntil(timeout: .seconds(15), "the holder takes the lock") {
                        try await scenario.lockValue() != nil
                    }
                    _ = try await waiter.refreshAccessTokenOrReLogin(after: seeded, timeout: .seconds(10))
                    _ = try await refreshed
                    #expect(self.metrics(metrics, resolvedVia: "poll", scenario) == 1)
                    #expect(self.metrics(metrics, resolvedVia: "pubsub", scenario) == 0)
                    #expect(
                        try metrics.expectTimer(RefresherMetricNames.wakeUpLatency, session(scenario)).values.count
                            == 1
                    )
                }
            }
        }

        @Test("Failures are counted by kind: not processed (after the holder's retries) and rejected")
        func failuresByKind() async throws {
            let scenario = try Scenario()
            let metrics = TestMetrics()
            let rejecting = Atomic<Bool>(false)
            // The identity provider is down (the request was not processed), then refuses the token.
            let refresh: RedisRefresher.RefreshFunction = { _ in
                if rejecting.load(ordering: .relaxed) { throw RefreshFailure.rejected("invalid_grant") }
                throw RefreshFailure.notProcessed("HTTP 503")
            }
            try await withRefresher(scenario.refresher(metrics: metrics, refresh: refresh)) { refresher in
                let seeded = try await scenario.seedWithoutReading(by: refresher)
                _ = try? await refresher.refreshAccessTokenOrReLogin(after: seeded, timeout: .seconds(10))
                rejecting.store(true, ordering: .relaxed)
                _ = try? await refresher.refreshAccessTokenOrReLogin(after: seeded, timeout: .seconds(10))
                let notProcessed = session(scenario) + [("kind", "not_processed")]
                let rejected = session(scenario) + [("kind", "rejected")]
                #expect(try metrics.expectCounter(RefresherMetricNames.failures, notProcessed).totalValue == 1)
                let retries = session(scenario) + [("reason", "not_processed")]
                #expect(try metrics.expectCounter(RefresherMetricNames.retries, retries).totalValue == 3)
                #expect(try metrics.expectCounter(RefresherMetricNames.failures, rejected).totalValue == 1)
                #expect(
                    try metrics.expectTimer(RefresherMetricNames.refreshDuration, session(scenario)).values.count == 2
                )
            }
        }

        @Test("A lock left by a crashed holder is taken over and counted")
        func takeover() async throws {
            let scenario = try Scenario()
            let metrics = TestMetrics()
            let configuration = scenario.configuration(pollInterval: .milliseconds(100))
            try await withRefresher(scenario.refresher(configuration, metrics: metrics)) { refresher in
                let seeded = try await scenario.seedWithoutReading(by: refresher)
                // A holder that died while holding the lock.
                try await scenario.redis.send("SET", RedisArgument(scenario.keys.lock), "ghost:1:deadbeef")
                async let refreshed = refresher.refreshAccessTokenOrReLogin(after: seeded, timeout: .seconds(30))
                try await waitUntil(timeout: .seconds(15), "the refresher waits for the ghost") {
                    try await scenario.stat("waits") == 1
                }
                // Its lock expires.
                try await scenario.redis.send("PEXPIRE", RedisArgument(scenario.keys.lock), "1")
                let fresh = try await refreshed
                #expect(fresh.generation == seeded.generation + 1)
                #expect(try metrics.expectCounter(RefresherMetricNames.takeovers, session(scenario)).totalValue == 1)
                #expect(metrics.counterTotal(label: RefresherMetricNames.waits) == 1)
                #expect(metrics.counterTotal(label: RefresherMetricNames.refreshes) == 1)
            }
        }

        @Test("A lock lost while refreshing (someone else's now) is counted and logged as a warning")
        func lockLostCounted() async throws {
            let scenario = try Scenario()
            let metrics = TestMetrics()
            let redis = scenario.redis
            let keys = scenario.keys
            let logs = InMemoryLogHandler()
            var configuration = scenario.configuration()
            configuration.lockTTL = .milliseconds(900)
            configuration.refreshTimeout = .seconds(5)
            let refresh: RedisRefresher.RefreshFunction = { _ in
                try await redis.send("SET", RedisArgument(keys.lock), "intruder:1:0-1", "PX", "10000")
                // Longer than a third of the TTL: the next extension finds the lock someone else's.
                try await waitUntil(timeout: .seconds(5), "the loss is counted") {
                    metrics.counterTotal(label: RefresherMetricNames.locksLost) == 1
                }
                return RefreshedTokens(accessToken: "late", refreshToken: "late-refresh", expiresIn: .seconds(60))
            }
            let logger = Logger(label: "test", factory: { _ in logs })
            try await withRefresher(
                scenario.refresher(configuration, logger: logger, metrics: metrics, refresh: refresh)
            ) { refresher in
                let seeded = try await scenario.seedWithoutReading(by: refresher)
                _ = try? await refresher.refreshAccessTokenOrReLogin(after: seeded, timeout: .seconds(2))
                #expect(try metrics.expectCounter(RefresherMetricNames.locksLost, session(scenario)).totalValue == 1)
                #expect(logs.entries.contains { $0.level == .warning && "\($0.message)".contains("lost the lock") })
                #expect(try await scenario.lockValue() == "intruder:1:0-1")
            }
        }

        @Test("A result the fenced write refuses is counted")
        func fencedWrite() async throws {
            let scenario = try Scenario()
            let metrics = TestMetrics()
            let redis = scenario.redis
            let keys = scenario.keys
            let refresh: RedisRefresher.RefreshFunction = { _ in
                // While this worker refreshes, its lock is lost and someone else moves the session on.
                try await redis.send("DEL", RedisArgument(keys.lock))
                try await redis.send("HINCRBY", RedisArgument(keys.sessionHash), "generation", "1")
                return RefreshedTokens(accessToken: "late", refreshToken: "late-refresh", expiresIn: .seconds(60))
            }
            try await withRefresher(scenario.refresher(metrics: metrics, refresh: refresh)) { refresher in
                let seeded = try await scenario.seedWithoutReading(by: refresher)
                let result = try await refresher.refreshAccessTokenOrReLogin(after: seeded, timeout: .seconds(10))
                #expect(result.accessToken != "late")
                #expect(
                    try metrics.expectCounter(RefresherMetricNames.fencedWrites, session(scenario)).totalValue == 1
                )
                #expect(metrics.counterTotal(label: RefresherMetricNames.refreshes) == 0)
            }
        }

        @Test("A caller whose deadline passes counts a timeout")
        func timeouts() async throws {
            let scenario = try Scenario()
            let metrics = TestMetrics()
            try await withRefresher(scenario.refresher(latency: .milliseconds(600), metrics: metrics)) { refresher in
                let seeded = try await scenario.seedWithoutReading(by: refresher)
                // A patient caller keeps the refresh going; an impatient one times out.
                async let patient = refresher.refreshAccessTokenOrReLogin(after: seeded, timeout: .seconds(30))
                await #expect(throws: RefresherError.self) {
                    _ = try await refresher.refreshAccessTokenOrReLogin(after: seeded, timeout: .milliseconds(100))
                }
                #expect(try metrics.expectCounter(RefresherMetricNames.timeouts, session(scenario)).totalValue == 1)
                _ = try await patient
                #expect(metrics.counterTotal(label: RefresherMetricNames.refreshes) == 1)
                #expect(metrics.counterTotal(label: RefresherMetricNames.timeouts) == 1)
            }
        }

        func metrics(_ metrics: TestMetrics, resolvedVia via: String, _ scenario: Scenario) -> Int64 {
            metrics.counterTotal(
                label: RefresherMetricNames.resolutions,
                dimensions: session(scenario) + [("via", via)]
            )
        }
    }
}
