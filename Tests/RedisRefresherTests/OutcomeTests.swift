import Foundation
import RedisRefresher
import RedisTestSupport
import Testing

/// The four outcomes of a refresh attempt across a fleet of real processes: an answer lost after the provider
/// rotated (with and without a reuse grace), an answer that comes after the timeout, a provider that refuses
/// connections, a holder stopped mid-request, Redis gone during the commit. Each prints a `FAULT |` row for
/// RELIABILITY.md; each asserts zero reuse.
@Suite("Outcomes", .serialized)
struct OutcomeTests {
    static func workers(
        _ count: Int,
        _ scenario: Scenario,
        _ extra: [String: String],
        together: Bool = false
    ) async throws -> [WorkerProcess] {
        try await FaultTests.workers(count, scenario, extra, together: together)
    }

    @Test("Answer lost after rotation, inside the reuse grace: one prompt retry serves all 8 × 16 callers")
    func lostAnswerInsideGrace() async throws {
        let scenario = try Scenario(name: "o-drop-grace")
        try await withRefresher(scenario.refresher()) { seeder in
            let initial = try await scenario.seed(using: seeder, idpGrace: .seconds(10))
            let workers = try await Self.workers(
                8,
                scenario,
                [
                    "TASKS": "16", "MODE": "drop", "TIMEOUT_MS": "15000",
                    "IDP_REUSE_GRACE_MS": "10000",
                ],
                together: true
            )
            let results = try await FaultTests.results(workers)
            #expect(results.count == 128)
            let generations = Dictionary(grouping: results, by: { $0.generation ?? -1 }).mapValues(\.count)
            #expect(
                results.allSatisfy { $0.ok && $0.generation == initial.generation + 1 },
                "errors \(Set(results.map(\.error))), generations \(generations), initial \(initial.generation)"
            )
            #expect(try await scenario.idp.refreshCount() == 1)
            #expect(try await scenario.idp.graceReuseCount() == 1)
            #expect(try await scenario.idp.reuseCount() == 0)
            let figures = FaultFigures(
                fault: "answer lost after rotation, reuse grace 10 s, 8×16",
                refreshes: try await scenario.idp.refreshCount(),
                reuse: try await scenario.idp.reuseCount(),
                results: results,
                deadline: .seconds(15),
                note: "1 rotation + 1 in-grace retry; every caller served"
            )
            print(figures)
        }
    }

    @Test("Answer lost after rotation, no reuse grace: nobody presents the token again, every caller fails fast")
    func lostAnswerWithoutGrace() async throws {
        let scenario = try Scenario(name: "o-drop")
        try await withRefresher(scenario.refresher()) { seeder in
            _ = try await scenario.seed(using: seeder)
            let workers = try await Self.workers(
                8,
                scenario,
                ["TASKS": "16", "MODE": "drop", "TIMEOUT_MS": "15000"],
                together: true
            )
            let results = try await FaultTests.results(workers)
            #expect(results.count == 128)
            #expect(results.allSatisfy { !$0.ok && $0.error == "outcomeUnknown" }, "\(results.map(\.error))")
            let figures = FaultFigures(
                fault: "answer lost after rotation, no reuse grace, 8×16",
                refreshes: try await scenario.idp.refreshCount(),
                reuse: try await scenario.idp.reuseCount(),
                results: results,
                deadline: .seconds(15),
                note: "outcome recorded; every caller got outcomeUnknown"
            )
            print(figures)
            #expect(figures.slowestMilliseconds < 1500)
            #expect(try await scenario.idp.refreshCount() == 1)
            #expect(try await scenario.idp.reuseCount() == 0)
            #expect(try await !scenario.idp.isRevoked())
            // The outcome is on the session for operators, and a new login moves on.
            let status = try await SessionAdmin(connection: scenario.redis, keys: scenario.keys).status()
            #expect(status.unknownOutcomeReason?.contains("connection reset") == true)
            let (access, refresh) = try await scenario.idp.start(salt: scenario.session + "-login")
            let replaced = try await seeder.replaceSession(
                RefreshedTokens(accessToken: access, refreshToken: refresh, expiresIn: .seconds(60))
            )
            let fresh = try await seeder.refreshAccessTokenOrReLogin(after: replaced, timeout: .seconds(10))
            #expect(fresh.generation == replaced.generation + 1)
            #expect(
                try await SessionAdmin(connection: scenario.redis, keys: scenario.keys).status().unknownOutcomeReason
                    == nil
            )
        }
    }

    @Test("An answer that arrives after the refresh timeout is still stored; zero reuse")
    func lateAnswerIsStored() async throws {
        let scenario = try Scenario(name: "o-late")
        try await withRefresher(scenario.refresher()) { seeder in
            let initial = try await scenario.seed(using: seeder)
            let workers = try await Self.workers(
                2,
                scenario,
                [
                    "TASKS": "4", "MODE": "late", "LATENCY_MS": "1500", "REFRESH_TIMEOUT_MS": "500",
                    "LOCK_TTL_MS": "1000",
                    "START_AT": "0", "TIMEOUT_MS": "10000", "SHUTDOWN_GRACE_MS": "5000",
                ]
            )
            let results = try await FaultTests.results(workers)
            #expect(results.count == 8)
            #expect(results.allSatisfy { !$0.ok && $0.error == "outcomeUnknown" })
            // The late answer lands: the session holds the provider's current tokens, and the unknown outcome is gone.
            try await waitUntil(timeout: .seconds(10), "the late answer is stored") {
                try await scenario.storedGeneration() == initial.generation + 1
            }
            let current = try await scenario.redis.send("HGET", RedisArgument(scenario.idp.key), "refresh_token").string
            #expect(try await scenario.sessionField("refresh_token") == current)
            #expect(try await scenario.sessionField("unknown_generation") == nil)
            #expect(try await scenario.idp.refreshCount() == 1)
            #expect(try await scenario.idp.reuseCount() == 0)
            print(
                FaultFigures(
                    fault: "answer after the refresh timeout (1.5 s vs 0.5 s), 2×4",
                    refreshes: try await scenario.idp.refreshCount(),
                    reuse: try await scenario.idp.reuseCount(),
                    results: results,
                    deadline: .seconds(10),
                    note: "callers got outcomeUnknown; the late tokens stored"
                )
            )
        }
    }

    @Test("A provider that refuses connections twice: the holder retries, every 8 × 16 caller is served")
    func refusedConnections() async throws {
        let scenario = try Scenario(name: "o-refuse")
        try await withRefresher(scenario.refresher()) { seeder in
            let initial = try await scenario.seed(using: seeder)
            let workers = try await Self.workers(
                8,
                scenario,
                [
                    "TASKS": "16", "MODE": "refuse", "REFUSE_FIRST": "2", "TIMEOUT_MS": "15000",
                ],
                together: true
            )
            let results = try await FaultTests.results(workers)
            #expect(results.count == 128)
            #expect(results.allSatisfy { $0.ok && $0.generation == initial.generation + 1 }, "\(results.map(\.error))")
            #expect(try await scenario.idp.refusedCount() == 3)
            #expect(try await scenario.idp.refreshCount() == 1)
            #expect(try await scenario.idp.reuseCount() == 0)
            print(
                FaultFigures(
                    fault: "provider refuses connections twice (not processed), 8×16",
                    refreshes: try await scenario.idp.refreshCount(),
                    reuse: try await scenario.idp.reuseCount(),
                    results: results,
                    deadline: .seconds(15),
                    note: "one holder, 3 presentations with backoff"
                )
            )
        }
    }

    @Test(
        "SIGTERM of the holder mid-request: its lock expires; callers fail, or are served inside a grace",
        arguments: [0, 20_000]
    )
    func holderTerminatedMidRequest(graceMilliseconds: Int) async throws {
        let scenario = try Scenario(name: "o-term")
        try await withRefresher(scenario.refresher()) { seeder in
            let initial = try await scenario.seed(using: seeder, idpGrace: .milliseconds(graceMilliseconds))
            let common = [
                "LOCK_TTL_MS": "1000", "REFRESH_TIMEOUT_MS": "2000", "IDP_REUSE_GRACE_MS": String(graceMilliseconds),
                "START_AT": "0", "TIMEOUT_MS": "15000", "POLL_MS": "300",
            ]
            let holder = try await WorkerProcess(
                environment: FleetTests.environment(
                    scenario,
                    common.merging(["TASKS": "1", "MODE": "slow", "LATENCY_MS": "60000"]) { $1 }
                )
            )
            let holderOwner = try await holder.waitUntilReady()
            try await waitUntil(timeout: .seconds(10), "the provider rotated for the holder") {
                try await scenario.idp.refreshCount() == 1
            }
            #expect(try await scenario.isLockHeld(by: holderOwner))
            let waiters = try await Self.workers(4, scenario, common.merging(["TASKS": "8"]) { $1 })
            try await waitUntil(timeout: .seconds(10), "waiters wait") { try await scenario.stat("waits") >= 4 }
            holder.signal(SIGTERM)
            _ = try await holder.results()
            let results = try await FaultTests.results(waiters)
            #expect(results.count == 32)
            if graceMilliseconds > 0 {
                #expect(
                    results.allSatisfy { $0.ok && $0.generation == initial.generation + 1 },
                    "\(results.map(\.error))"
                )
                #expect(try await scenario.idp.graceReuseCount() == 1)
            } else {
                #expect(results.allSatisfy { !$0.ok && $0.error == "outcomeUnknown" }, "\(results.map(\.error))")
                #expect(try await scenario.idp.graceReuseCount() == 0)
            }
            #expect(try await scenario.idp.refreshCount() == 1)
            #expect(try await scenario.idp.reuseCount() == 0)
            let figures = FaultFigures(
                fault:
                    "holder SIGTERM mid-request (shutdown grace 0.5 s), 4×8, reuse grace \(graceMilliseconds / 1000) s",
                refreshes: try await scenario.idp.refreshCount(),
                reuse: try await scenario.idp.reuseCount(),
                results: results,
                deadline: .seconds(15),
                note: graceMilliseconds > 0
                    ? "lock left to expire; takeover inside the grace"
                    : "lock left to expire; outcome unknown after 3 s"
            )
            print(figures)
            #expect(figures.slowestMilliseconds < 15000)
        }
    }

    @Test("Redis unreachable for 1.5 × the lock TTL during the commit: the tokens are stored afterwards, zero reuse")
    func redisGoneDuringCommit() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("refresher-commit-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try await withRedisServer(["--appendonly", "yes", "--appendfsync", "always", "--dir", directory.path]) {
            server in
            let scenario = try Scenario(url: server.url, name: "o-commit")
            try await withRefresher(scenario.refresher()) { seeder in
                let initial = try await scenario.seed(using: seeder)
                let common = [
                    "LOCK_TTL_MS": "2000", "REFRESH_TIMEOUT_MS": "10000", "START_AT": "0", "TIMEOUT_MS": "20000",
                    "POLL_MS": "300",
                ]
                let holder = try await WorkerProcess(
                    environment: FleetTests.environment(
                        scenario,
                        common.merging(["TASKS": "4", "MODE": "slow", "LATENCY_MS": "1500"]) { $1 }
                    )
                )
                _ = try await holder.waitUntilReady()
                let waiters = try await Self.workers(3, scenario, common.merging(["TASKS": "8"]) { $1 })
                try await waitUntil(timeout: .seconds(10), "the provider rotated for the holder") {
                    try await scenario.idp.refreshCount() == 1
                }
                // Down from before the answer until after the lock expired (3 s = 1.5 × TTL), then back with its data.
                try await server.stop(signal: SIGKILL)
                try await Task.sleep(for: .seconds(3))
                try await server.start()
                let results = try await FaultTests.results([holder] + waiters)
                #expect(results.count == 28)
                #expect(
                    results.allSatisfy { $0.ok && $0.generation == initial.generation + 1 },
                    "\(results.map(\.error))"
                )
                #expect(try await scenario.storedGeneration() == initial.generation + 1)
                #expect(try await scenario.idp.refreshCount() == 1)
                #expect(try await scenario.idp.reuseCount() == 0)
                let figures = FaultFigures(
                    fault: "Redis down 3 s (1.5 × lock TTL) during the commit, AOF",
                    refreshes: 1,
                    reuse: try await scenario.idp.reuseCount(),
                    results: results,
                    deadline: .seconds(20),
                    note: "commit retried; waiters respected the unrecorded attempt"
                )
                print(figures)
            }
        }
    }
}
