import InMemoryLogging
import Logging
import MetricsTestKit
import RedisRefresher
import RedisTestSupport
import Testing

/// Replica acknowledgement (`WAIT`) of the holder's lock and commit, on a real primary with and without replicas.
@Suite("Replica acknowledgement", .serialized)
struct AcknowledgementTests {
    @Test(
        "A primary without replicas, acknowledgement on: nothing is presented, callers fail by their deadline saying why"
    )
    func noReplicas() async throws {
        try await SentinelTopology.with(.init(replicas: 0, sentinels: 1)) { topology in
            let scenario = try Scenario(url: topology.sentinelURL, name: "no-replica", idpURL: TestRedis.url)
            let metrics = TestMetrics()
            // With a Sentinel URL acknowledgement is on by default: one replica within 1 s.
            let configuration = scenario.configuration()
            #expect(configuration.replicaAcknowledgement == nil)
            try await withRefresher(scenario.refresher(configuration, metrics: metrics)) { refresher in
                let initial = try await scenario.seed(using: refresher)
                let started = ContinuousClock.now
                do {
                    // Long enough for the first WAIT (1 s) to fall short on a loaded machine, so the error says why.
                    _ = try await refresher.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(5))
                    Issue.record("refreshed without a replica")
                } catch let error as RefresherError {
                    #expect(error.code == .timeout)
                    #expect(error.message.contains("0 of 1 replicas acknowledged the lock"), "\(error.message)")
                }
                #expect(ContinuousClock.now - started < .seconds(10))
                #expect(try await scenario.idp.refreshCount() == 0)
                // The lock and the attempt record were given back: nobody waits for an attempt that never happened.
                try await waitUntil(timeout: .seconds(5), "the lock is free") { try await scenario.lockValue() == nil }
                #expect(try await scenario.sessionField("attempt_by") == nil)
                #expect(
                    metrics.counterTotal(label: RefresherMetricNames.unacknowledgedWrites) >= 1
                )
            }
            // Turned off, the same setup refreshes.
            var off = scenario.configuration()
            off.replicaAcknowledgement = .off
            try await withRefresher(scenario.refresher(off)) { refresher in
                let stored = try #require(try await refresher.credentials())
                let fresh = try await refresher.refreshAccessTokenOrReLogin(after: stored, timeout: .seconds(10))
                #expect(fresh.generation == stored.generation + 1)
                #expect(try await scenario.idp.refreshCount() == 1)
            }
        }
    }

    @Test(
        "An unacknowledged commit: callers are served, the holder keeps the tokens and stores them again if they are lost"
    )
    func unacknowledgedCommit() async throws {
        try await SentinelTopology.with(.init(replicas: 1, sentinels: 1)) { topology in
            let scenario = try Scenario(url: topology.sentinelURL, name: "lagging", idpURL: TestRedis.url)
            let metrics = TestMetrics()
            let handler = InMemoryLogHandler()
            var logger = Logger(label: "test") { _ in handler }
            logger.logLevel = .info
            let primary = try await topology.primaryPort()
            let replica = try #require(topology.nodes.first { $0.port != primary })
            var configuration = scenario.configuration()
            configuration.replicaAcknowledgement = ReplicaAcknowledgement(replicas: 1, timeout: .milliseconds(300))
            let refresh = scenario.refreshFunction(latency: .milliseconds(10))
            // The replica stops once the lock is acknowledged, before the new session is written.
            let refresher = try await scenario.refresher(configuration, logger: logger, metrics: metrics) { current in
                replica.pause()
                return try await refresh(current)
            }
            try await withRefresher(refresher) { refresher in
                let initial = try await scenario.seed(using: refresher)
                let fresh = try await refresher.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(10))
                #expect(fresh.generation == initial.generation + 1)
                #expect(
                    try metrics.expectCounter(
                        RefresherMetricNames.unacknowledgedWrites,
                        [("session", scenario.session), ("write", "commit")]
                    ).totalValue == 1
                )
                // As if a failover lost the new session: the primary is back at the old generation. The holder,
                // still keeping the tokens, stores them again.
                try await scenario.redis.send(
                    "HSET",
                    RedisArgument(scenario.keys.sessionHash),
                    "generation",
                    RedisArgument(initial.generation)
                )
                replica.resume()
                try await waitUntil(timeout: .seconds(20), "the holder stores the new session again") {
                    let stored = try await scenario.storedGeneration()
                    return stored == fresh.generation
                        && handler.entries.contains { $0.message.description.hasPrefix("the stored session went back") }
                }
                #expect(try await scenario.storedGeneration() == fresh.generation)
                #expect(try await scenario.sessionField("refresh_token") == fresh.refreshToken)
                #expect(metrics.counterTotal(label: RefresherMetricNames.commitsUnacknowledged) == 0)
                #expect(try await scenario.idp.refreshCount() == 1)
            }
        }
    }
}
