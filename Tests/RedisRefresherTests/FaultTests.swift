import Foundation
import RedisRefresher
import RedisTestSupport
import Testing

/// The fault suite: each fault with real processes and a real redis-server. Every test prints one `FAULT |` row
/// (refreshes, reuse, callers resolved / total, slowest caller vs its deadline, errors seen); RELIABILITY.md
/// collects them.
@Suite("Faults", .serialized)
struct FaultTests {
    static func environment(_ scenario: Scenario, _ extra: [String: String]) -> [String: String] {
        FleetTests.environment(scenario, extra)
    }

    /// Starts `count` workers and waits until each has read the session. With `together`, their tasks start only
    /// then, all at once, from a barrier in Redis (not at a `START_AT` instant): a worker that read the session after
    /// the storm began would take the refreshed generation as its starting point and refresh it once more.
    static func workers(
        _ count: Int,
        _ scenario: Scenario,
        _ extra: [String: String],
        together: Bool = false
    ) async throws -> [WorkerProcess] {
        var extra = extra
        let barrier = together ? "\(scenario.session):start" : nil
        if let barrier {
            extra["START_AT"] = nil
            extra["START_KEY"] = barrier
        }
        let workers = try await WorkerProcess.start(count, environment: environment(scenario, extra))
        for worker in workers { _ = try await worker.waitUntilReady() }
        if let barrier {
            for _ in 0..<count { try await scenario.redis.send("RPUSH", RedisArgument(barrier), "go") }
        }
        return workers
    }

    static func results(_ workers: [WorkerProcess]) async throws -> [TaskResult] {
        var results: [TaskResult] = []
        for worker in workers { results += try await worker.results() }
        return results
    }

    @Test("Holder killed with SIGKILL mid-refresh, 8 processes × 16 tasks, inside the provider's reuse grace")
    func holderKilled() async throws {
        let scenario = try Scenario(name: "f-kill")
        try await withRefresher(scenario.refresher()) { seeder in
            let initial = try await scenario.seed(using: seeder)
            let doomed = try await WorkerProcess(
                environment: Self.environment(
                    scenario,
                    ["TASKS": "16", "LATENCY_MS": "60000", "LOCK_TTL_MS": "2000", "START_AT": "0"]
                )
            )
            let doomedOwner = try await doomed.waitUntilReady()
            try await waitUntil(timeout: .seconds(10), "the doomed worker holds the lock") {
                try await scenario.isLockHeld(by: doomedOwner)
            }
            let survivors = try await Self.workers(
                7,
                scenario,
                [
                    "TASKS": "16", "LOCK_TTL_MS": "2000", "START_AT": "0", "TIMEOUT_MS": "15000",
                    "IDP_REUSE_GRACE_MS": "30000",
                ]
            )
            try await waitUntil(timeout: .seconds(10), "survivors wait") { try await scenario.stat("waits") >= 7 }
            doomed.signal(SIGKILL)
            let results = try await Self.results(survivors)
            #expect(results.count == 112)
            #expect(results.allSatisfy { $0.ok && $0.generation == initial.generation + 1 })
            #expect(try await scenario.idp.refreshCount() == 1)
            #expect(try await scenario.idp.reuseCount() == 0)
            #expect(try await scenario.stat("takeovers") == 1)
            let figures = FaultFigures(
                fault: "holder killed (SIGKILL) mid-refresh, 8×16, lock TTL 2 s, reuse grace 30 s",
                refreshes: try await scenario.idp.refreshCount(),
                reuse: try await scenario.idp.reuseCount(),
                results: results,
                deadline: .seconds(15),
                note: "takeover inside the grace after the TTL; the killed process's 16 callers died with it"
            )
            print(figures)
            #expect(figures.slowestMilliseconds < 15000)
        }
    }

    @Test(
        "redis-server restarted mid-storm: persisted → everyone gets the refresh; flushed → typed errors, then recovery",
        arguments: [true, false]
    )
    func redisRestart(persisted: Bool) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("refresher-aof-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let arguments =
            persisted
            ? ["--appendonly", "yes", "--appendfsync", "always", "--dir", directory.path] : ["--dir", directory.path]
        try await withRedisServer(arguments) { server in
            let scenario = try Scenario(url: server.url, name: persisted ? "f-aof" : "f-flush")
            try await withRefresher(scenario.refresher()) { seeder in
                let initial = try await scenario.seed(using: seeder)
                let holder = try await WorkerProcess(
                    environment: Self.environment(
                        scenario,
                        ["TASKS": "4", "LATENCY_MS": "2500", "START_AT": "0", "TIMEOUT_MS": "15000", "POLL_MS": "300"]
                    )
                )
                let holderOwner = try await holder.waitUntilReady()
                try await waitUntil(timeout: .seconds(10), "the holder holds the lock") {
                    try await scenario.isLockHeld(by: holderOwner)
                }
                let waiters = try await Self.workers(
                    3,
                    scenario,
                    ["TASKS": "8", "START_AT": "0", "TIMEOUT_MS": "15000", "POLL_MS": "300"]
                )
                try await waitUntil(timeout: .seconds(10), "waiters wait") { try await scenario.stat("waits") >= 3 }
                try await server.stop(signal: SIGKILL)
                try await server.start()
                let results = try await Self.results([holder] + waiters)
                #expect(results.count == 28)
                if persisted {
                    #expect(
                        results.allSatisfy { $0.ok && $0.generation == initial.generation + 1 },
                        "\(results.map(\.error))"
                    )
                    #expect(try await scenario.idp.refreshCount() == 1)
                } else {
                    // The session and the lock are gone: every caller ends with a typed error by its deadline.
                    #expect(results.allSatisfy { !$0.ok && $0.error != nil })
                    #expect(
                        results.allSatisfy {
                            ["noSession", "reloginRequired", "lockLost", "refreshFailed"].contains($0.error ?? "")
                        }
                    )
                    // Recovery without restarting anything: seed again and refresh.
                    let reseeded = try await scenario.seed(using: seeder)
                    let recovered = try await seeder.refreshAccessTokenOrReLogin(after: reseeded, timeout: .seconds(10))
                    #expect(recovered.generation == reseeded.generation + 1)
                }
                #expect(try await scenario.idp.reuseCount() == 0)
                let figures = FaultFigures(
                    fault:
                        "redis-server killed and restarted mid-refresh (\(persisted ? "AOF, session kept" : "no persistence, data lost"))",
                    refreshes: try await scenario.idp.refreshCount(),
                    reuse: try await scenario.idp.reuseCount(),
                    results: results,
                    deadline: .seconds(15),
                    note: persisted
                        ? "commit retried until Redis was back" : "typed errors; re-seeded session refreshed at once"
                )
                print(figures)
                #expect(figures.slowestMilliseconds < 15000)
            }
        }
    }

    @Test("CLIENT PAUSE 3000 while callers wait: the outcome arrives after the pause")
    func clientPause() async throws {
        try await withRedisServer { server in
            let scenario = try Scenario(url: server.url, name: "f-pause")
            try await withRefresher(scenario.refresher()) { seeder in
                let initial = try await scenario.seed(using: seeder)
                let holder = try await WorkerProcess(
                    environment: Self.environment(scenario, ["TASKS": "4", "LATENCY_MS": "1000", "START_AT": "0"])
                )
                let holderOwner = try await holder.waitUntilReady()
                try await waitUntil(timeout: .seconds(10), "the holder holds the lock") {
                    try await scenario.isLockHeld(by: holderOwner)
                }
                let waiters = try await Self.workers(
                    3,
                    scenario,
                    ["TASKS": "8", "START_AT": "0", "TIMEOUT_MS": "15000"]
                )
                try await waitUntil(timeout: .seconds(10), "waiters wait") { try await scenario.stat("waits") >= 3 }
                try await scenario.redis.send("CLIENT", "PAUSE", "3000")
                let results = try await Self.results([holder] + waiters)
                #expect(results.count == 28)
                #expect(results.allSatisfy { $0.ok && $0.generation == initial.generation + 1 })
                #expect(try await scenario.idp.refreshCount() == 1)
                let figures = FaultFigures(
                    fault: "CLIENT PAUSE 3000 during the wait",
                    refreshes: try await scenario.idp.refreshCount(),
                    reuse: try await scenario.idp.reuseCount(),
                    results: results,
                    deadline: .seconds(15),
                    note: "commit and checks held by the pause, then served"
                )
                print(figures)
            }
        }
    }

    @Test("Redis slower than the deadline (DEBUG SLEEP 3): callers time out at their 1 s deadline, then recover")
    func redisSlowerThanDeadline() async throws {
        try await withRedisServer(["--enable-debug-command", "yes"]) { server in
            let scenario = try Scenario(url: server.url, name: "f-slow")
            try await withRefresher(scenario.refresher()) { seeder in
                let initial = try await scenario.seed(using: seeder)
                let startAt = unixNow() + 1.5
                let workers = try await Self.workers(
                    2,
                    scenario,
                    ["TASKS": "8", "START_AT": String(startAt), "TIMEOUT_MS": "1000"]
                )
                // Blocks the server for 3 s from just before the workers' start instant.
                let sleeper = try RedisConnection(url: server.url)
                try await waitUntil(timeout: .seconds(5), "the start instant approaches") { unixNow() > startAt - 0.2 }
                async let slept = sleeper.send("DEBUG", "SLEEP", "3")
                let results = try await Self.results(workers)
                _ = try await slept
                #expect(results.count == 16)
                #expect(results.allSatisfy { $0.error == "timeout" })
                let figures = FaultFigures(
                    fault: "Redis slower than the deadline (DEBUG SLEEP 3, deadline 1 s)",
                    refreshes: try await scenario.idp.refreshCount(),
                    reuse: try await scenario.idp.reuseCount(),
                    results: results,
                    deadline: .seconds(1),
                    note: "every caller failed with .timeout at its deadline; the next call succeeded"
                )
                print(figures)
                #expect(figures.slowestMilliseconds < 1500)
                // Recovery: once Redis answers again, a caller refreshes normally (at worst after one lock TTL, should a
                // check whose caller gave up have taken the lock).
                let recovered = try await seeder.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(15))
                #expect(recovered.generation == initial.generation + 1)
                sleeper.close()
            }
        }
    }

    @Test(
        "Identity provider failures of unknown outcome (500, a hang): every waiter fails fast, the token is not presented again",
        arguments: ["fail500", "hang"]
    )
    func identityProviderFailure(mode: String) async throws {
        let scenario = try Scenario(name: "f-\(mode)")
        try await withRefresher(scenario.refresher()) { seeder in
            _ = try await scenario.seed(using: seeder)
            let workers = try await Self.workers(
                4,
                scenario,
                [
                    "TASKS": "8", "MODE": mode, "LATENCY_MS": "100",
                    "REFRESH_TIMEOUT_MS": "1000", "TIMEOUT_MS": "15000",
                ],
                together: true
            )
            let results = try await Self.results(workers)
            #expect(results.count == 32, "\(workers.map(\.lines))")
            #expect(results.allSatisfy { $0.error == "outcomeUnknown" })
            let attempts = try await scenario.redis.send("HGET", RedisArgument(scenario.idp.key), "attempts").int ?? 0
            #expect(attempts == 1)
            #expect(try await scenario.lockValue() == nil)
            let figures = FaultFigures(
                fault: mode == "hang"
                    ? "identity provider hangs past the 1 s refresh timeout" : "identity provider answers 500",
                refreshes: 0,
                reuse: 0,
                results: results,
                deadline: .seconds(15),
                note: "1 attempt; outcome unknown recorded; waiters failed on the published outcome; lock released"
            )
            print(figures)
            #expect(figures.slowestMilliseconds < 5000)
        }
    }

    @Test("Identity provider rejects the refresh token (invalid_grant): re-login error everywhere, at once")
    func identityProviderRejects() async throws {
        let scenario = try Scenario(name: "f-reject")
        try await withRefresher(scenario.refresher()) { seeder in
            _ = try await scenario.seed(using: seeder)
            try await scenario.idp.revoke()
            let workers = try await Self.workers(4, scenario, ["TASKS": "8"], together: true)
            let results = try await Self.results(workers)
            #expect(results.count == 32)
            #expect(results.allSatisfy { $0.error == "reloginRequired" })
            #expect(try await scenario.redis.send("HGET", RedisArgument(scenario.idp.key), "after_revoke").int == 1)
            #expect(try await scenario.lockValue() == nil)
            let figures = FaultFigures(
                fault: "identity provider rejects the refresh token (invalid_grant)",
                refreshes: 0,
                reuse: 0,
                results: results,
                deadline: .seconds(20),
                note: "1 attempt; .reloginRequired everywhere; rejection stored"
            )
            print(figures)
        }
    }

    @Test("10,000 tasks waiting in one process all resolve with one refresh")
    func tenThousandTasks() async throws {
        let scenario = try Scenario(name: "f-10k")
        try await withRefresher(scenario.refresher(latency: .milliseconds(300))) { refresher in
            let initial = try await scenario.seed(using: refresher)
            let started = ContinuousClock.now
            let generations = try await withThrowingTaskGroup(of: Int64.self) { group in
                for _ in 0..<10_000 {
                    group.addTask {
                        try await refresher.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(30))
                            .generation
                    }
                }
                return try await group.reduce(into: [Int64]()) { $0.append($1) }
            }
            let elapsed = ContinuousClock.now - started
            #expect(generations.count == 10_000)
            #expect(generations.allSatisfy { $0 == initial.generation + 1 })
            #expect(try await scenario.idp.refreshCount() == 1)
            print(
                "FAULT | 10,000 tasks waiting in one process | \(try await scenario.idp.refreshCount()) | 0 | 10000/10000 (ok 10000) | "
                    + "\(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000) ms for all / 30000 ms | none | one refresh, one flight"
            )
        }
    }

    @Test("64 processes × 16 tasks all resolve with one refresh")
    func sixtyFourProcesses() async throws {
        let scenario = try Scenario(name: "f-64")
        try await withRefresher(scenario.refresher()) { seeder in
            let initial = try await scenario.seed(using: seeder)
            let startAt = unixNow() + 12
            let workers = try await WorkerProcess.start(
                64,
                environment: Self.environment(
                    scenario,
                    ["TASKS": "16", "START_AT": String(startAt), "TIMEOUT_MS": "30000"]
                )
            )
            for worker in workers { _ = try await worker.waitUntilReady(timeout: .seconds(60)) }
            var results: [TaskResult] = []
            for worker in workers { results += try await worker.results(timeout: .seconds(90)) }
            #expect(results.count == 1024)
            #expect(results.allSatisfy { $0.ok && $0.generation == initial.generation + 1 })
            #expect(try await scenario.idp.refreshCount() == 1)
            #expect(try await scenario.idp.reuseCount() == 0)
            print(
                FaultFigures(
                    fault: "64 processes × 16 tasks",
                    refreshes: try await scenario.idp.refreshCount(),
                    reuse: try await scenario.idp.reuseCount(),
                    results: results,
                    deadline: .seconds(30),
                    note: "one refresh for 1,024 callers"
                )
            )
        }
    }
}
