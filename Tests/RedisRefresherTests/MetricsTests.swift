import InMemoryLogging
import Logging
import MetricsTestKit
import RedisRefresher
import RedisTestSupport
import Synchronization
import Testing

extension HTTPIntegration {
    @Suite("Metrics")
    struct MetricsTests {
        static let allLabels = [
            RefresherMetricNames.refreshes, RefresherMetricNames.failures, RefresherMetricNames.waits,
            RefresherMetricNames.resolutions, RefresherMetricNames.takeovers, RefresherMetricNames.fencedWrites,
            RefresherMetricNames.timeouts, RefresherMetricNames.refreshesAhead,
        ]

        func session(_ scenario: HTTPScenario) -> [(String, String)] { [("session", scenario.session)] }

        @Test("Counters and timers are created once, with the session dimension; a refresh counts and is timed")
        func createdOnceAndRefreshCounted() async throws {
            let scenario = try await HTTPScenario.start(.init(refreshLatency: .milliseconds(50)))
            let metrics = TestMetrics()
            let refresher = try await scenario.refresher(metrics: metrics)
            #expect(metrics.counters.count == 16)
            #expect(metrics.timers.count == 2)
            #expect(metrics.counters.allSatisfy { $0.dimensions.first! == ("session", scenario.session) })
            let seeded = try await scenario.seed(refresher)
            for _ in 0..<3 { _ = try await refresher.refreshAccessTokenOrReLogin(after: seeded, timeout: .seconds(10)) }
            #expect(try metrics.expectCounter(RefresherMetricNames.refreshes, session(scenario)).totalValue == 1)
            let duration = try metrics.expectTimer(RefresherMetricNames.refreshDuration, session(scenario))
            #expect(duration.values.count == 1)
            #expect((duration.lastValue ?? 0) >= 50_000_000)
            #expect(metrics.counterTotal(label: RefresherMetricNames.failures) == 0)
            // Nothing new was created on the way.
            #expect(metrics.counters.count == 16)
            #expect(metrics.timers.count == 2)
            await refresher.shutdown()
            await scenario.stop()
        }

        @Test("A waiter in another worker counts a wait, a pub/sub resolution and its wake-up latency")
        func waitResolvedByPubSub() async throws {
            let scenario = try await HTTPScenario.start(.init(refreshLatency: .milliseconds(400)))
            let holderMetrics = TestMetrics()
            let waiterMetrics = TestMetrics()
            let holder = try await scenario.refresher(metrics: holderMetrics)
            let waiter = try await scenario.refresher(metrics: waiterMetrics)
            let seeded = try await scenario.seed(holder)
            async let refreshed = holder.refreshAccessTokenOrReLogin(after: seeded, timeout: .seconds(10))
            try await waitUntil(timeout: .seconds(15), "the holder takes the lock") {
                try await scenario.lockValue() != nil
            }
            let fresh = try await waiter.refreshAccessTokenOrReLogin(after: seeded, timeout: .seconds(10))
            #expect(try await refreshed.generation == fresh.generation)
            #expect(try waiterMetrics.expectCounter(RefresherMetricNames.waits, session(scenario)).totalValue == 1)
            #expect(metrics(waiterMetrics, resolvedVia: "pubsub", scenario) == 1)
            #expect(metrics(waiterMetrics, resolvedVia: "poll", scenario) == 0)
            let latency = try waiterMetrics.expectTimer(RefresherMetricNames.wakeUpLatency, session(scenario))
            #expect(latency.values.count == 1)
            #expect((latency.lastValue ?? .max) < 500_000_000)
            #expect(waiterMetrics.counterTotal(label: RefresherMetricNames.refreshes) == 0)
            #expect(holderMetrics.counterTotal(label: RefresherMetricNames.refreshes) == 1)
            #expect(holderMetrics.counterTotal(label: RefresherMetricNames.waits) == 0)
            await holder.shutdown()
            await waiter.shutdown()
            await scenario.stop()
        }

        @Test("A waiter that only polls counts a poll-fallback resolution")
        func waitResolvedByPolling() async throws {
            let scenario = try await HTTPScenario.start(.init(refreshLatency: .milliseconds(300)))
            let metrics = TestMetrics()
            let holder = try await scenario.refresher()
            let waiter = try await scenario.refresher(
                scenario.configuration(pollInterval: .milliseconds(100), wakeUp: .pollingOnly), metrics: metrics)
            let seeded = try await scenario.seed(holder)
            async let refreshed = holder.refreshAccessTokenOrReLogin(after: seeded, timeout: .seconds(10))
            try await waitUntil(timeout: .seconds(15), "the holder takes the lock") {
                try await scenario.lockValue() != nil
            }
            _ = try await waiter.refreshAccessTokenOrReLogin(after: seeded, timeout: .seconds(10))
            _ = try await refreshed
            #expect(self.metrics(metrics, resolvedVia: "poll", scenario) == 1)
            #expect(self.metrics(metrics, resolvedVia: "pubsub", scenario) == 0)
            #expect(try metrics.expectTimer(RefresherMetricNames.wakeUpLatency, session(scenario)).values.count == 1)
            await holder.shutdown()
            await waiter.shutdown()
            await scenario.stop()
        }

        @Test("Failures are counted by kind: not processed (after the holder's retries) and rejected")
        func failuresByKind() async throws {
            let scenario = try await HTTPScenario.start(.init(tokenFailure: (503, nil)))
            let metrics = TestMetrics()
            let refresher = try await scenario.refresher(metrics: metrics)
            let seeded = try await scenario.seed(refresher)
            _ = try? await refresher.refreshAccessTokenOrReLogin(after: seeded, timeout: .seconds(10))
            scenario.auth.update { $0.tokenFailure = (400, "invalid_grant") }
            _ = try? await refresher.refreshAccessTokenOrReLogin(after: seeded, timeout: .seconds(10))
            let notProcessed = session(scenario) + [("kind", "not_processed")]
            let rejected = session(scenario) + [("kind", "rejected")]
            #expect(try metrics.expectCounter(RefresherMetricNames.failures, notProcessed).totalValue == 1)
            let retries = session(scenario) + [("reason", "not_processed")]
            #expect(try metrics.expectCounter(RefresherMetricNames.retries, retries).totalValue == 3)
            #expect(try metrics.expectCounter(RefresherMetricNames.failures, rejected).totalValue == 1)
            #expect(try metrics.expectTimer(RefresherMetricNames.refreshDuration, session(scenario)).values.count == 2)
            await refresher.shutdown()
            await scenario.stop()
        }

        @Test("A lock left by a crashed holder is taken over and counted")
        func takeover() async throws {
            let scenario = try await HTTPScenario.start()
            let metrics = TestMetrics()
            let refresher = try await scenario.refresher(
                scenario.configuration(pollInterval: .milliseconds(100)), metrics: metrics)
            let seeded = try await scenario.seed(refresher)
            // A holder that died while holding the lock.
            try await scenario.redis.send("SET", RedisArgument(scenario.keys.lock), "ghost:1:deadbeef")
            async let refreshed = refresher.refreshAccessTokenOrReLogin(after: seeded, timeout: .seconds(30))
            try await waitUntil(timeout: .seconds(15), "the refresher waits for the ghost") {
                try await scenario.redis.send("HGET", RedisArgument(scenario.keys.stats), "waits").int == 1
            }
            // Its lock expires.
            try await scenario.redis.send("PEXPIRE", RedisArgument(scenario.keys.lock), "1")
            let fresh = try await refreshed
            #expect(fresh.generation == seeded.generation + 1)
            #expect(try metrics.expectCounter(RefresherMetricNames.takeovers, session(scenario)).totalValue == 1)
            #expect(metrics.counterTotal(label: RefresherMetricNames.waits) == 1)
            #expect(metrics.counterTotal(label: RefresherMetricNames.refreshes) == 1)
            await refresher.shutdown()
            await scenario.stop()
        }

        @Test("A lock lost while refreshing (someone else's now) is counted and logged as a warning")
        func lockLostCounted() async throws {
            let scenario = try await HTTPScenario.start()
            let metrics = TestMetrics()
            let redis = scenario.redis
            let keys = scenario.keys
            let logs = InMemoryLogHandler()
            var configuration = scenario.configuration()
            configuration.lockTTL = .milliseconds(900)
            configuration.refreshTimeout = .seconds(5)
            let refresher = try await scenario.refresher(
                configuration, logger: Logger(label: "test", factory: { _ in logs }), metrics: metrics
            ) { _ in
                try await redis.send("SET", RedisArgument(keys.lock), "intruder:1:0-1", "PX", "10000")
                // Longer than a third of the TTL: the next extension finds the lock someone else's.
                try await waitUntil(timeout: .seconds(5), "the loss is counted") {
                    metrics.counterTotal(label: RefresherMetricNames.locksLost) == 1
                }
                return RefreshedTokens(accessToken: "late", refreshToken: "late-refresh", expiresIn: .seconds(60))
            }
            let seeded = try await scenario.seed(refresher)
            _ = try? await refresher.refreshAccessTokenOrReLogin(after: seeded, timeout: .seconds(2))
            #expect(try metrics.expectCounter(RefresherMetricNames.locksLost, session(scenario)).totalValue == 1)
            #expect(logs.entries.contains { $0.level == .warning && "\($0.message)".contains("lost the lock") })
            #expect(try await scenario.lockValue() == "intruder:1:0-1")
            await refresher.shutdown()
            await scenario.stop()
        }

        @Test("A result the fenced write refuses is counted")
        func fencedWrite() async throws {
            let scenario = try await HTTPScenario.start()
            let metrics = TestMetrics()
            let redis = scenario.redis
            let keys = scenario.keys
            let refresher = try await scenario.refresher(metrics: metrics) { _ in
                // While this worker refreshes, its lock is lost and someone else moves the session on.
                try await redis.send("DEL", RedisArgument(keys.lock))
                try await redis.send("HINCRBY", RedisArgument(keys.sessionHash), "generation", "1")
                return RefreshedTokens(accessToken: "late", refreshToken: "late-refresh", expiresIn: .seconds(60))
            }
            let seeded = try await scenario.seed(refresher)
            let result = try await refresher.refreshAccessTokenOrReLogin(after: seeded, timeout: .seconds(10))
            #expect(result.accessToken != "late")
            #expect(try metrics.expectCounter(RefresherMetricNames.fencedWrites, session(scenario)).totalValue == 1)
            #expect(metrics.counterTotal(label: RefresherMetricNames.refreshes) == 0)
            await refresher.shutdown()
            await scenario.stop()
        }

        @Test("A caller whose deadline passes counts a timeout")
        func timeouts() async throws {
            let scenario = try await HTTPScenario.start(.init(refreshLatency: .milliseconds(600)))
            let metrics = TestMetrics()
            let refresher = try await scenario.refresher(metrics: metrics)
            let seeded = try await scenario.seed(refresher)
            // A patient caller keeps the refresh going; an impatient one times out.
            async let patient = refresher.refreshAccessTokenOrReLogin(after: seeded, timeout: .seconds(30))
            await #expect(throws: RefresherError.self) {
                _ = try await refresher.refreshAccessTokenOrReLogin(after: seeded, timeout: .milliseconds(100))
            }
            #expect(try metrics.expectCounter(RefresherMetricNames.timeouts, session(scenario)).totalValue == 1)
            _ = try await patient
            #expect(metrics.counterTotal(label: RefresherMetricNames.refreshes) == 1)
            #expect(metrics.counterTotal(label: RefresherMetricNames.timeouts) == 1)
            await refresher.shutdown()
            await scenario.stop()
        }

        func metrics(_ metrics: TestMetrics, resolvedVia via: String, _ scenario: HTTPScenario) -> Int64 {
            metrics.counterTotal(
                label: RefresherMetricNames.resolutions, dimensions: session(scenario) + [("via", via)])
        }
    }
}
