import Foundation
import RedisRefresher
import RedisTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Fleet storms through a Sentinel failover at the worst moments, with real processes: a primary with two replicas and
/// three sentinels on loopback, worker processes connected through `redis-sentinel://`, both replicas acknowledging
/// the lock and the commit. The fake identity provider keeps its books on the test Redis, outside the failover.
@Suite("Sentinel failover under a fleet storm", .serialized)
struct FailoverTests {
    /// When the failover starts.
    enum Moment: String {
        /// The holder recorded its attempt (lock and record acknowledged) and has not called the provider yet.
        case afterLock = "after the lock is taken"
        /// The provider rotated the token; its answer is still on the way.
        case duringAnswer = "while the provider answers"
        /// The new session is stored.
        case afterCommit = "right after the commit"
    }

    /// How the primary goes away.
    enum Kind: String {
        case sentinelFailover = "SENTINEL FAILOVER"
        case kill = "kill -9 of the primary"
        case pause = "primary paused (SIGSTOP) past down-after, resumed"
    }

    @Test("SENTINEL FAILOVER right after the lock is taken")
    func failoverAfterLock() async throws { try await Self.storm(.afterLock, .sentinelFailover) }

    @Test("SENTINEL FAILOVER while the provider answers")
    func failoverDuringAnswer() async throws { try await Self.storm(.duringAnswer, .sentinelFailover) }

    @Test("SENTINEL FAILOVER right after the commit")
    func failoverAfterCommit() async throws { try await Self.storm(.afterCommit, .sentinelFailover) }

    @Test("kill -9 of the primary right after the lock is taken")
    func killAfterLock() async throws { try await Self.storm(.afterLock, .kill) }

    @Test("kill -9 of the primary while the provider answers")
    func killDuringAnswer() async throws { try await Self.storm(.duringAnswer, .kill) }

    @Test("kill -9 of the primary right after the commit")
    func killAfterCommit() async throws { try await Self.storm(.afterCommit, .kill) }

    @Test("The primary paused past down-after-milliseconds while the provider answers, then resumed")
    func pauseDuringAnswer() async throws { try await Self.storm(.duringAnswer, .pause) }

    /// 4 processes × 8 tasks refresh after the same credentials; the primary fails over at `moment`. Every caller gets
    /// the new generation by its deadline, the provider saw one refresh and no reuse, and the new primary holds the
    /// provider's latest tokens.
    static func storm(_ moment: Moment, _ kind: Kind) async throws {
        try await SentinelTopology.with(.init(replicas: 2, sentinels: 3)) { topology in
            let scenario = try Scenario(url: topology.sentinelURL, name: "failover", idpURL: TestRedis.url)
            try await withRefresher(scenario.refresher()) { seeder in
                let initial = try await scenario.seed(using: seeder)
                // A healthy topology: both replicas hold the session before the storm. (Right after a full
                // synchronisation a replica gets the stream only after its first acknowledgement, up to 1 s later.)
                #expect(try await scenario.redis.send("WAIT", "2", "10000").int == 2)
                let barrier = "\(scenario.session):start"
                let latency = moment == .afterCommit ? 100 : 1500
                let workers = try await WorkerProcess.start(
                    4,
                    environment: FleetTests.environment(
                        scenario,
                        [
                            "TASKS": "8", "START_KEY": barrier, "LATENCY_MS": String(latency),
                            "MODE": moment == .duringAnswer ? "slow" : "refresh", "TIMEOUT_MS": "40000",
                            "LOCK_TTL_MS": "6000", "LOG_LEVEL": "info",
                            // Every replica acknowledges: a promoted replica then holds whatever was acknowledged,
                            // also in the moment between a promotion and the clients learning of it. After a
                            // kill -9 one replica is left, so a commit stays unacknowledged: the workers keep the
                            // tokens and do not wait for them when they exit.
                            "REPLICA_ACKS": "2", "SHUTDOWN_GRACE_MS": "1000",
                        ]
                    )
                )
                for worker in workers { _ = try await worker.waitUntilReady() }
                let stormStart = Date()
                for _ in workers { try await scenario.redis.send("RPUSH", RedisArgument(barrier), "go") }
                try await waitUntil(timeout: .seconds(20), "the moment: \(moment.rawValue)") {
                    switch moment {
                    case .afterLock: try await scenario.sessionField("attempt_by") != nil
                    case .duringAnswer: try await scenario.idp.refreshCount() == 1
                    case .afterCommit: try await scenario.storedGeneration() == initial.generation + 1
                    }
                }
                let failoverStart = ContinuousClock.now
                let oldPrimary = try await topology.primaryPort()
                let newPrimary: Int
                switch kind {
                case .sentinelFailover:
                    newPrimary = try await topology.failover().newPrimaryPort
                case .kill:
                    newPrimary = try await topology.waitForNewPrimary(notOn: try await topology.crashPrimary())
                case .pause:
                    newPrimary = try await topology.waitForNewPrimary(notOn: try await topology.pausePrimary())
                    topology.node(port: oldPrimary)?.resume()
                }
                let switched = ContinuousClock.now - failoverStart
                let results = try await WorkerProcess.expectOneRefresh(
                    by: workers,
                    callers: 32,
                    generation: initial.generation + 1,
                    scenario: scenario
                )
                // The new primary holds the provider's latest tokens.
                let direct = try RedisConnection(url: topology.nodeURL(port: newPrimary))
                defer { direct.close() }
                let idp = try RedisConnection(url: TestRedis.url)
                defer { idp.close() }
                let issued = try await idp.send("HGET", RedisArgument(scenario.idp.key), "refresh_token").string
                try await waitUntil(timeout: .seconds(20), "the new primary holds the new session") {
                    try await direct.send("HGET", RedisArgument(scenario.keys.sessionHash), "generation").int
                        == initial.generation + 1
                }
                #expect(
                    try await direct.send("HGET", RedisArgument(scenario.keys.sessionHash), "refresh_token").string
                        == issued
                )
                let start = Int64(stormStart.timeIntervalSince1970 * 1_000_000)
                let slowest = results.compactMap(\.resumedMicroseconds).max().map { Double($0 - start) / 1_000_000 }
                print(
                    "failover-row | \(kind.rawValue), \(moment.rawValue) | \(switched) | "
                        + "\(results.filter(\.ok).count)/\(results.count) | "
                        + "\(slowest.map { String(format: "%.1f s", $0) } ?? "-") | "
                        + "\(try await scenario.idp.refreshCount()) | \(try await scenario.idp.reuseCount())"
                )
            }
        }
    }
}
