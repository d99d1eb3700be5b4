import Foundation
import RedisRefresher
import RedisTestSupport
import Testing

/// Fleet storms on a Redis Cluster with real worker processes: the session's slot migrates or its shard fails over
/// mid-refresh; and many sessions spread over every shard refresh at once. The fake identity provider keeps its books
/// on the test Redis, outside the cluster.
@Suite("Cluster: fleet storms through migrations and failovers", .serialized)
struct ClusterFleetTests {
    enum Disturbance: String {
        case migrateAfterLock = "slot migrated right after the lock is taken"
        case migrateDuringAnswer = "slot migrated while the provider answers"
        case failoverAfterLock = "CLUSTER FAILOVER right after the lock is taken"
        case killDuringAnswer = "kill -9 of the shard primary while the provider answers"
    }

    @Test("Slot migrated right after the lock is taken: one refresh, no reuse, every waiter served")
    func migrateAfterLock() async throws { try await Self.storm(.migrateAfterLock) }

    @Test("Slot migrated while the provider answers: one refresh, no reuse, every waiter served")
    func migrateDuringAnswer() async throws { try await Self.storm(.migrateDuringAnswer) }

    @Test("CLUSTER FAILOVER of the session's shard right after the lock is taken")
    func failoverAfterLock() async throws { try await Self.storm(.failoverAfterLock) }

    @Test("kill -9 of the session's shard primary while the provider answers")
    func killDuringAnswer() async throws { try await Self.storm(.killDuringAnswer) }

    /// 4 processes × 8 tasks refresh after the same credentials; the session's shard is disturbed mid-refresh.
    static func storm(_ disturbance: Disturbance) async throws {
        let replicas = disturbance == .failoverAfterLock || disturbance == .killDuringAnswer ? 1 : 0
        try await ClusterTopology.with(.init(primaries: 3, replicasPerPrimary: replicas)) { topology in
            let scenario = try Scenario(url: topology.seedURL, name: "cluster", idpURL: TestRedis.url)
            try await withRefresher(scenario.refresher()) { seeder in
                let initial = try await scenario.seed(using: seeder)
                if replicas > 0 { #expect(try await scenario.redis.send("WAIT", "1", "10000").int == 1) }
                let barrier = "{\(scenario.session)}:start"
                let slow = disturbance == .migrateDuringAnswer || disturbance == .killDuringAnswer
                let workers = try await WorkerProcess.start(
                    4,
                    environment: FleetTests.environment(
                        scenario,
                        [
                            "TASKS": "8", "START_KEY": barrier, "LATENCY_MS": "1500", "MODE": slow ? "slow" : "refresh",
                            "TIMEOUT_MS": "40000", "LOCK_TTL_MS": "6000", "LOG_LEVEL": "info",
                            "REPLICA_ACKS": String(replicas), "SHUTDOWN_GRACE_MS": "1000",
                        ]
                    )
                )
                for worker in workers { _ = try await worker.waitUntilReady() }
                let stormStart = Date()
                for _ in workers { try await scenario.redis.send("RPUSH", RedisArgument(barrier), "go") }
                try await waitUntil(timeout: .seconds(20), "the moment: \(disturbance.rawValue)") {
                    slow
                        ? try await scenario.idp.refreshCount() == 1
                        : try await scenario.sessionField("attempt_by") != nil
                }
                let slot = HashSlot.of(scenario.keys.sessionHash)
                let owner = try await topology.primaryPort(forSlot: slot)
                let started = ContinuousClock.now
                switch disturbance {
                case .migrateAfterLock, .migrateDuringAnswer:
                    let target = try #require(try await topology.primaryPorts.first { $0 != owner })
                    try await topology.migrate(slot: slot, to: target)
                case .failoverAfterLock:
                    _ = try await topology.failover(shardOf: owner)
                case .killDuringAnswer:
                    try await topology.crashPrimary(port: owner)
                    _ = try await topology.waitForNewPrimary(replacing: owner, timeout: .seconds(20))
                }
                let disturbed = ContinuousClock.now - started
                let results = try await WorkerProcess.expectOneRefresh(
                    by: workers,
                    callers: 32,
                    generation: initial.generation + 1,
                    scenario: scenario
                )
                let idp = try RedisConnection(url: TestRedis.url)
                defer { idp.close() }
                let issued = try await idp.send("HGET", RedisArgument(scenario.idp.key), "refresh_token").string
                #expect(try await scenario.sessionField("refresh_token") == issued)
                let start = Int64(stormStart.timeIntervalSince1970 * 1_000_000)
                let slowest = results.compactMap(\.resumedMicroseconds).max().map { Double($0 - start) / 1_000_000 }
                print(
                    "cluster-row | \(disturbance.rawValue) | \(disturbed) | "
                        + "\(results.filter(\.ok).count)/\(results.count) | "
                        + "\(slowest.map { String(format: "%.1f s", $0) } ?? "-") | "
                        + "\(try await scenario.idp.refreshCount()) | \(try await scenario.idp.reuseCount())"
                )
            }
        }
    }

    @Test("Many sessions over every shard, refreshed at once by three processes' connections: one refresh each")
    func manySessions() async throws {
        try await ClusterTopology.with(.init(primaries: 3, replicasPerPrimary: 0)) { topology in
            let scenarios = try (0..<30).map { _ in
                try Scenario(url: topology.seedURL, name: "many", idpURL: TestRedis.url)
            }
            let shards = Set(
                try await scenarios.asyncMap { try await topology.primaryPort(forSlot: HashSlot.of($0.keys.lock)) }
            )
            #expect(shards.count == 3)
            let processes = try (0..<3).map { _ in
                try RefresherConnections(url: topology.seedURL, logger: Scenario.quietLogger)
            }
            var refreshers: [[RedisRefresher]] = []
            var initial: [Credentials] = []
            for scenario in scenarios {
                var perProcess: [RedisRefresher] = []
                for connections in processes {
                    perProcess.append(
                        try await RedisRefresher(
                            configuration: scenario.configuration(),
                            connections: connections,
                            logger: Scenario.quietLogger,
                            refresh: scenario.refreshFunction(latency: .milliseconds(200))
                        )
                    )
                }
                initial.append(try await scenario.seed(using: perProcess[0]))
                refreshers.append(perProcess)
            }
            let starting = initial
            let all = refreshers
            let results = await withTaskGroup(of: Bool.self) { group in
                for (index, perProcess) in all.enumerated() {
                    let stale = starting[index]
                    for refresher in perProcess {
                        for _ in 0..<2 {
                            group.addTask {
                                let fresh = try? await refresher.refreshAccessTokenOrReLogin(
                                    after: stale,
                                    timeout: .seconds(30)
                                )
                                return fresh?.generation == stale.generation + 1
                            }
                        }
                    }
                }
                var results: [Bool] = []
                for await result in group { results.append(result) }
                return results
            }
            #expect(results.count == 30 * 3 * 2)
            #expect(results.allSatisfy { $0 })
            for scenario in scenarios {
                #expect(try await scenario.idp.refreshCount() == 1)
                #expect(try await scenario.idp.reuseCount() == 0)
            }
            for perProcess in refreshers { for refresher in perProcess { await refresher.shutdown() } }
            for connections in processes { await connections.shutdown() }
        }
    }
}

extension Sequence {
    fileprivate func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
