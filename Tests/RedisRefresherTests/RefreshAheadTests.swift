import AsyncHTTPClient
import MetricsTestKit
import RedisRefresher
import RedisRefresherHTTP
import RedisTestSupport
import Synchronization
import Testing

extension HTTPIntegration {
    @Suite("Refresh ahead of expiry")
    struct RefreshAheadTests {
        @Test("4 workers × 8 tasks calling the API across an expiry: one refresh ahead of it, not a single 401")
        func fleetRefreshesAhead() async throws {
            // The token lives 4 s; 2 s before it expires the fleet refreshes, leaving 2 s for the refresh to land.
            let scenario = try await HTTPScenario.start(
                .init(loginLifetime: .seconds(4), refreshLatency: .milliseconds(50)))
            let configuration = scenario.configuration(refreshAhead: .seconds(2))
            var workers: [(RedisRefresher, TestMetrics)] = []
            for _ in 0..<4 {
                let metrics = TestMetrics()
                workers.append((try await scenario.refresher(configuration, metrics: metrics), metrics))
            }
            let seeded = try await scenario.seed(workers[0].0)
            let expiresAt = try #require(seeded.expiresAtMilliseconds)
            // Past the old token's expiry: every request after it must already use the new token.
            let end = expiresAt + 700
            let statuses = try await withThrowingTaskGroup(of: [UInt].self) { group in
                for (worker, _) in workers {
                    let api = AuthorizedHTTPClient(client: scenario.http, refresher: worker)
                    for _ in 0..<8 {
                        group.addTask {
                            var statuses: [UInt] = []
                            while UnixTime.nowMilliseconds < end {
                                let response = try await api.execute(
                                    HTTPClientRequest(url: scenario.server.url + "/resource"), timeout: .seconds(5))
                                _ = try await response.body.collect(upTo: 1 << 16)
                                statuses.append(response.status.code)
                                try await Task.sleep(for: .milliseconds(25))
                            }
                            return statuses
                        }
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(statuses.count > 100)
            #expect(statuses.allSatisfy { $0 == 200 })
            let stats = scenario.auth.stats
            #expect(stats.resource401 == 0)
            #expect(stats.refreshes == 1)
            #expect(stats.reuse == 0)
            #expect(try await scenario.storedGeneration() == seeded.generation + 1)
            let started = workers.map { $0.1.counterTotal(label: RefresherMetricNames.refreshesAhead) }.reduce(0, +)
            #expect((1...4).contains(started))
            #expect(workers.map { $0.1.counterTotal(label: RefresherMetricNames.refreshes) }.reduce(0, +) == 1)
            for (worker, _) in workers { await worker.shutdown() }
            await scenario.stop()
        }

        @Test("Credentials that already expired are refreshed before credentials() returns them")
        func expiredCredentialsWait() async throws {
            let scenario = try await HTTPScenario.start(.init(loginLifetime: .seconds(1)))
            let refresher = try await scenario.refresher(scenario.configuration(refreshAhead: .milliseconds(100)))
            let seeded = try await scenario.seed(refresher)
            #expect(scenario.auth.stats.refreshes == 0)
            let expiresAt = try #require(seeded.expiresAtMilliseconds)
            try await waitUntil(timeout: .seconds(15), "the seeded token expires") {
                UnixTime.nowMilliseconds > expiresAt
            }
            // Nobody called credentials() inside the margin: the first call after the expiry waits for the refresh.
            let fresh = try await refresher.credentials()
            #expect(fresh.generation == seeded.generation + 1)
            #expect(!fresh.isExpired())
            #expect(scenario.auth.stats.refreshes == 1)
            await refresher.shutdown()
            await scenario.stop()
        }

        @Test("The margin is capped at half a token's lifetime, so short-lived tokens are not refreshed over and over")
        func marginCappedAtHalfLifetime() async throws {
            let scenario = try await HTTPScenario.start(
                .init(loginLifetime: .seconds(6), refreshedLifetime: .seconds(6)))
            let metrics = TestMetrics()
            // Far more than the lifetime: uncapped, every read would start a refresh.
            let refresher = try await scenario.refresher(
                scenario.configuration(refreshAhead: .seconds(60)), metrics: metrics)
            let seeded = try await scenario.seed(refresher)
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
            #expect(scenario.auth.stats.refreshes == 1)
            #expect(metrics.counterTotal(label: RefresherMetricNames.refreshesAhead) == 1)
            await refresher.shutdown()
            await scenario.stop()
        }

        @Test("A failing refresh ahead keeps serving the still valid token and retries no sooner than a poll interval")
        func failingRefreshAhead() async throws {
            let scenario = try await HTTPScenario.start(.init(loginLifetime: .seconds(4), tokenFailure: (503, nil)))
            // One presentation per refresh (no holder retries), so the count below is the count of refreshes ahead.
            var configuration = scenario.configuration(pollInterval: .milliseconds(200), refreshAhead: .seconds(10))
            configuration.retry = .init(maximumAttempts: 1)
            let refresher = try await scenario.refresher(configuration)
            let seeded = try await scenario.seed(refresher)
            let expiresAt = try #require(seeded.expiresAtMilliseconds)
            // The margin is half the lifetime (2 s): reads in the second half start refreshes that fail.
            try await waitUntil(timeout: .seconds(15), "a first refresh ahead") {
                _ = try await refresher.credentials()
                return scenario.auth.stats.tokenRequests >= 1
            }
            let windowStart = ContinuousClock.now
            while UnixTime.nowMilliseconds < expiresAt - 300 {
                #expect(try await refresher.credentials().accessToken == seeded.accessToken)
                try await Task.sleep(for: .milliseconds(5))
            }
            let window = (ContinuousClock.now - windowStart).components
            let windowMilliseconds = Int(window.seconds * 1000 + window.attoseconds / 1_000_000_000_000_000)
            // Retried, but at most once per poll interval: a few attempts, not hundreds.
            let attempts = scenario.auth.stats.tokenRequests
            #expect(attempts >= 2)
            #expect(attempts <= 2 + windowMilliseconds / 200, "\(attempts) attempts in \(windowMilliseconds) ms")
            await refresher.shutdown()
            await scenario.stop()
        }
    }
}
