import AsyncHTTPClient
import MetricsTestKit
import RedisRefresher
import RedisRefresherHTTP
import RedisTestSupport
import Synchronization
import Testing

extension HTTPIntegration {
    /// Refresh ahead of expiry as an API sees it. (The feature itself is tested in the refresher's own tests.)
    @Suite("Refresh ahead of expiry over HTTP")
    struct RefreshAheadOverHTTPTests {
        @Test("4 workers × 8 tasks calling the API across an expiry: one refresh ahead of it, not a single 401")
        func fleetRefreshesAhead() async throws {
            // The token lives 4 s; 2 s before it expires the fleet refreshes, leaving 2 s for the refresh to land.
            try await withHTTPScenario(.init(loginLifetime: .seconds(4), refreshLatency: .milliseconds(50))) {
                scenario in
                let configuration = scenario.configuration(refreshAhead: .seconds(2))
                let metrics = (0..<4).map { _ in TestMetrics() }
                try await withRefreshers(
                    count: 4,
                    { try await scenario.refresher(configuration, metrics: metrics[$0]) }
                ) {
                    workers in
                    let seeded = try await scenario.seed(workers[0])
                    let expiresAt = try #require(seeded.expiresAtMilliseconds)
                    // Past the old token's expiry: every request after it must already use the new token.
                    let end = expiresAt + 700
                    let statuses = try await withThrowingTaskGroup(of: [UInt].self) { group in
                        for worker in workers {
                            let api = AuthorizedHTTPClient(client: scenario.http, refresher: worker)
                            for _ in 0..<8 {
                                group.addTask {
                                    var statuses: [UInt] = []
                                    while UnixTime.nowMilliseconds < end {
                                        let response = try await api.execute(
                                            HTTPClientRequest(url: scenario.server.url + "/resource"),
                                            timeout: .seconds(5)
                                        )
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
                    #expect(try await scenario.base.storedGeneration() == seeded.generation + 1)
                    let started = metrics.map { $0.counterTotal(label: RefresherMetricNames.refreshesAhead) }
                    #expect((1...4).contains(started.reduce(0, +)))
                    #expect(metrics.map { $0.counterTotal(label: RefresherMetricNames.refreshes) }.reduce(0, +) == 1)
                }
            }
        }
    }
}
