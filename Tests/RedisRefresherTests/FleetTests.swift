import Foundation
import Histogram
import RedisRefresher
import RedisTestSupport
import Testing

/// Multi-process behaviour, with real `refresher-test-worker` processes.
@Suite("Fleet of processes", .serialized)
struct FleetTests {
    static func environment(_ scenario: Scenario, _ extra: [String: String]) -> [String: String] {
        var environment = [
            "REDIS_URL": scenario.url, "SESSION": scenario.session, "IDP_NAMESPACE": scenario.session,
            "IDP_REDIS_URL": scenario.idpURL,
        ]
        for (key, value) in extra { environment[key] = value }
        return environment
    }

    @Test("8 processes × 16 tasks: one refresh, no reuse, every caller gets the new generation")
    func storm() async throws {
        try await Self.storm(try Scenario(name: "fleet"))
    }

    @Test("8 processes × 16 tasks over TLS (rediss://): one refresh, no reuse, every caller gets the new generation")
    func stormOverTLS() async throws {
        try await withRedisServer(try await RedisServerProcess.tlsArguments()) { server in
            let url = try #require(server.tlsURL)
            #expect(url.hasPrefix("rediss://"))
            // The refresher, the fake identity provider and every worker process connect to the TLS port, which
            // speaks nothing but TLS.
            try await Self.storm(try Scenario(url: url, name: "tls-fleet"))
        }
    }

    /// 8 worker processes × 16 tasks refresh after the same credentials at once; one refresh, no reuse. The storm
    /// starts from a barrier in Redis once every worker has read the session, however slowly they started.
    static func storm(_ scenario: Scenario) async throws {
        try await withRefresher(scenario.refresher()) { seeder in
            let initial = try await scenario.seed(using: seeder)
            let barrier = "\(scenario.session):start"
            let workers = try await WorkerProcess.start(
                8,
                environment: Self.environment(
                    scenario,
                    ["TASKS": "16", "START_KEY": barrier, "LATENCY_MS": "200"]
                )
            )
            for worker in workers { _ = try await worker.waitUntilReady() }
            for _ in workers { try await scenario.redis.send("RPUSH", RedisArgument(barrier), "go") }
            var results: [TaskResult] = []
            for worker in workers { results += try await worker.results() }
            #expect(results.count == 128)
            #expect(results.allSatisfy { $0.ok && $0.generation == initial.generation + 1 })
            #expect(try await scenario.idp.refreshCount() == 1)
            #expect(try await scenario.idp.reuseCount() == 0)
            #expect(try await scenario.stat("refreshes") == 1)
            #expect(try await scenario.lockValue() == nil)
            // Wake-up latency: outcome stored (the holder's own resume) → other processes' tasks resumed.
            let commit = results.filter(\.holder).compactMap(\.resumedMicroseconds).min() ?? 0
            var wakeups = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
            for result in results where !result.holder {
                if let resumed = result.resumedMicroseconds { _ = wakeups.record(UInt64(max(0, resumed - commit))) }
            }
            #expect(wakeups.totalCount == 112)
            print(
                "fleet 8x16: refreshes=\(try await scenario.idp.refreshCount()) reuse=\(try await scenario.idp.reuseCount()) "
                    + "wake-up p50=\(wakeups.valueAtPercentile(50)) µs p99=\(wakeups.valueAtPercentile(99)) µs max=\(wakeups.max) µs "
                    + "waits=\(try await scenario.stat("waits"))"
            )
        }
    }

    @Test("A holder killed with SIGKILL mid-refresh is replaced after its lock TTL, inside the provider's reuse grace")
    func holderCrash() async throws {
        let scenario = try Scenario(name: "crash")
        try await withRefresher(scenario.refresher()) { seeder in
            let initial = try await scenario.seed(using: seeder)
            // The doomed holder: its refresh function sleeps a minute before calling the IdP.
            let doomed = try await WorkerProcess(
                environment: Self.environment(
                    scenario,
                    ["TASKS": "1", "LATENCY_MS": "60000", "LOCK_TTL_MS": "1500", "START_AT": "0"]
                )
            )
            let doomedOwner = try await doomed.waitUntilReady()
            try await waitUntil(timeout: .seconds(10), "the doomed worker holds the lock") {
                try await scenario.isLockHeld(by: doomedOwner)
            }
            let startAt = unixNow() + 0.5
            let survivors = try await WorkerProcess.start(
                4,
                environment: Self.environment(
                    scenario,
                    [
                        "TASKS": "8", "LATENCY_MS": "50", "LOCK_TTL_MS": "1500", "START_AT": String(startAt),
                        "IDP_REUSE_GRACE_MS": "20000",
                    ]
                )
            )
            for survivor in survivors { _ = try await survivor.waitUntilReady() }
            try await waitUntil(timeout: .seconds(10), "survivors wait") { try await scenario.stat("waits") >= 4 }
            doomed.signal(SIGKILL)
            var results: [TaskResult] = []
            for survivor in survivors { results += try await survivor.results() }
            #expect(results.count == 32)
            #expect(results.allSatisfy { $0.ok && $0.generation == initial.generation + 1 })
            #expect(try await scenario.idp.refreshCount() == 1)
            #expect(try await scenario.idp.reuseCount() == 0)
            #expect(try await scenario.stat("takeovers") == 1)
        }
    }

    @Test("A holder paused past its TTL is fenced: no overwrite, no foreign release")
    func pausedHolderIsFenced() async throws {
        let scenario = try Scenario(name: "pause")
        try await withRefresher(scenario.refresher()) { seeder in
            let initial = try await scenario.seed(using: seeder)
            // The paused holder's refresh function returns fixed tokens after 2.5 s, without the IdP.
            let paused = try await WorkerProcess(
                environment: Self.environment(
                    scenario,
                    ["TASKS": "1", "MODE": "static", "LATENCY_MS": "2500", "LOCK_TTL_MS": "1000", "START_AT": "0"]
                )
            )
            let pausedOwner = try await paused.waitUntilReady()
            try await waitUntil(timeout: .seconds(10), "the worker holds the lock") {
                try await scenario.isLockHeld(by: pausedOwner)
            }
            // Paused only once its refresh token is out (the attempt is recorded just before): paused earlier, it
            // would find the session moved on when it wakes, present nothing and have nothing to fence.
            try await waitUntil(timeout: .seconds(10), "the paused worker presented its refresh token") {
                try await scenario.sessionField("attempt_by") == scenario.lockValue()
            }
            paused.signal(SIGSTOP)
            // Another worker takes over once the lock expires (inside the reuse grace) and refreshes for real.
            try await withRefresher(
                scenario.refresher(
                    lockTTL: .seconds(1),
                    pollInterval: .milliseconds(200),
                    reuseGrace: .seconds(30)
                )
            ) { other in
                let fresh = try await other.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(10))
                #expect(fresh.generation == initial.generation + 1)
                // Someone else holds the lock when the paused worker wakes up.
                try await scenario.redis.send("SET", RedisArgument(scenario.keys.lock), "intruder:9:0", "PX", "30000")
                paused.signal(SIGCONT)
                let results = try await paused.results()
                #expect(results.count == 1)
                // It gets the stored (newer) session, not its own late tokens.
                #expect(results.first?.ok == true && results.first?.generation == fresh.generation)
                let stored = try await scenario.redis.send(
                    "HGET",
                    RedisArgument(scenario.keys.sessionHash),
                    "access_token"
                )
                #expect(stored.string == fresh.accessToken)
                #expect(try await scenario.storedGeneration() == fresh.generation)
                #expect(try await scenario.lockValue() == "intruder:9:0")
                #expect(try await scenario.stat("fenced") == 1)
            }
        }
    }

    @Test("Waiters whose subscriber is killed (CLIENT KILL TYPE pubsub) still resolve")
    func lostNotification() async throws {
        try await withRedisServer { server in
            let scenario = try Scenario(url: server.url, name: "lost")
            try await withRefresher(scenario.refresher()) { seeder in
                let initial = try await scenario.seed(using: seeder)
                let startAt = unixNow() + 1
                let holder = try await WorkerProcess(
                    environment: Self.environment(scenario, ["TASKS": "1", "LATENCY_MS": "2000", "START_AT": "0"])
                )
                let holderOwner = try await holder.waitUntilReady()
                try await waitUntil(timeout: .seconds(10), "the holder holds the lock") {
                    try await scenario.isLockHeld(by: holderOwner)
                }
                let waiters = try await WorkerProcess.start(
                    2,
                    environment: Self.environment(scenario, ["TASKS": "8", "START_AT": String(startAt)])
                )
                for waiter in waiters { _ = try await waiter.waitUntilReady() }
                try await waitUntil(timeout: .seconds(10), "waiters wait") { try await scenario.stat("waits") >= 2 }
                let killed = try await scenario.redis.send("CLIENT", "KILL", "TYPE", "pubsub").int ?? 0
                #expect(killed >= 3)
                var results: [TaskResult] = []
                for worker in waiters + [holder] { results += try await worker.results() }
                #expect(results.count == 17)
                #expect(results.allSatisfy { $0.ok && $0.generation == initial.generation + 1 })
                #expect(try await scenario.idp.refreshCount() == 1)
            }
        }
    }

    @Test("SIGTERM of a holder whose request may be in flight leaves its lock to expire instead of releasing it")
    func sigtermLeavesInFlightLock() async throws {
        let scenario = try Scenario(name: "term")
        try await withRefresher(scenario.refresher()) { seeder in
            _ = try await scenario.seed(using: seeder)
            let worker = try await WorkerProcess(
                environment: Self.environment(scenario, ["TASKS": "1", "LATENCY_MS": "60000", "START_AT": "0"])
            )
            let owner = try await worker.waitUntilReady()
            try await waitUntil(timeout: .seconds(10), "the worker holds the lock") {
                try await scenario.isLockHeld(by: owner)
            }
            #expect(try await scenario.redis.send("PTTL", RedisArgument(scenario.keys.lock)).int ?? 0 > 5000)
            let lock = try await scenario.lockValue()
            try await waitUntil(timeout: .seconds(10), "the token is being presented") {
                try await scenario.sessionField("attempt_by") == lock
            }
            worker.signal(SIGTERM)
            #expect(try await worker.termination(timeout: .seconds(5)) == .exited(143))
            #expect(try await scenario.lockValue() == lock)
            #expect(
                try await scenario.redis.send("HGET", RedisArgument(scenario.keys.sessionHash), "attempt_by").string
                    == lock
            )
        }
    }
}
