import Foundation
import RedisTestSupport
import Synchronization
import Testing

@testable import RedisRefresher

/// The protocol's edges against a real redis-server: lost replies, lost locks, half-written scripts, Redis that
/// forgets or refuses, and sessions stored anew.
@Suite("Protocol edges")
struct ProtocolTests {
    static func store(_ scenario: Scenario) -> SessionStore {
        SessionStore(connection: scenario.redis, keys: scenario.keys)
    }

    static func request(_ acquisition: String, generation: Int64) -> SessionStore.CheckRequest {
        SessionStore.CheckRequest(
            acquisition: acquisition,
            lockTTL: .seconds(10),
            generation: generation,
            lineage: nil,
            takeover: false,
            countWait: true,
            waitingSince: nil,
            reuseGrace: .zero,
            attemptHorizon: .seconds(40)
        )
    }

    @Test("A check sent again after its reply was lost recognises its own lock instead of waiting for it")
    func retriedCheckIsReentrant() async throws {
        let scenario = try Scenario(name: "p-reentrant")
        try await withRefresher(scenario.refresher()) { seeder in
            let initial = try await scenario.seed(using: seeder)
            let store = Self.store(scenario)
            guard case .acquired = try await store.check(Self.request("w:1:a-1", generation: initial.generation)) else {
                Issue.record("the first check did not take the lock")
                return
            }
            // The same acquisition asks again (its first reply was lost): it holds the lock.
            guard case .acquired = try await store.check(Self.request("w:1:a-1", generation: initial.generation)) else {
                Issue.record("the retried check did not recognise its own lock")
                return
            }
            // Another acquisition of the same process is someone else.
            guard
                case .held(let holder, _, _) = try await store.check(
                    Self.request("w:1:a-2", generation: initial.generation)
                )
            else {
                Issue.record("another acquisition was let in")
                return
            }
            #expect(holder == "w:1:a-1")
        }
    }

    @Test("A rejection is recorded even when the holder lost its lock: nobody presents that token again")
    func rejectionRecordedAfterLockLoss() async throws {
        let scenario = try Scenario(name: "p-reject")
        try await withRefresher(scenario.refresher()) { seeder in
            let initial = try await scenario.seed(using: seeder)
            let store = Self.store(scenario)
            _ = try await store.check(Self.request("w:1:a-1", generation: initial.generation))
            try await scenario.redis.send("SET", RedisArgument(scenario.keys.lock), "w:2:b-1", "PX", "10000")
            let recorded = try await store.fail(
                .rejected("invalid_grant"),
                generation: initial.generation,
                lineage: initial.lineage,
                by: "w:1:a-1"
            )
            #expect(recorded)
            #expect(try await scenario.lockValue() == "w:2:b-1")
            try await scenario.redis.send("DEL", RedisArgument(scenario.keys.lock))
            #expect(
                try await store.check(Self.request("w:3:c-1", generation: initial.generation))
                    == .rejected(reason: "invalid_grant")
            )
            // A not-processed failure after losing the lock records nothing: the token is still good.
            #expect(
                try await store.fail(.notProcessed("HTTP 503"), generation: 99, lineage: nil, by: "w:1:a-1") == false
            )
        }
    }

    @Test("Presenting takes back a lock that expired only when no other holder's attempt is recorded")
    func presentTakesBackFreeLock() async throws {
        let scenario = try Scenario(name: "p-present")
        try await withRefresher(scenario.refresher()) { seeder in
            let initial = try await scenario.seed(using: seeder)
            let store = Self.store(scenario)
            _ = try await store.check(Self.request("w:1:a-1", generation: initial.generation))
            try await scenario.redis.send("DEL", RedisArgument(scenario.keys.lock))
            #expect(
                try await store.present(owner: "w:1:a-1", generation: initial.generation, ttl: .seconds(10))
                    == .recorded
            )
            #expect(try await scenario.lockValue() == "w:1:a-1")
            #expect(try await scenario.sessionField("attempt_by") == "w:1:a-1")
            // Another acquisition finds the attempt of the first one recorded: it may not present.
            try await scenario.redis.send("DEL", RedisArgument(scenario.keys.lock))
            #expect(
                try await store.present(owner: "w:2:b-1", generation: initial.generation, ttl: .seconds(10))
                    == .lockLost
            )
            #expect(try await scenario.lockValue() == nil)
        }
    }

    @Test("An unknown outcome is not recorded while another holder (inside the grace) has the lock")
    func unknownNotRecordedOverAnotherHolder() async throws {
        let scenario = try Scenario(name: "p-unknown")
        try await withRefresher(scenario.refresher()) { seeder in
            let initial = try await scenario.seed(using: seeder)
            let store = Self.store(scenario)
            _ = try await store.check(Self.request("w:1:a-1", generation: initial.generation))
            #expect(
                try await store.present(owner: "w:1:a-1", generation: initial.generation, ttl: .seconds(10))
                    == .recorded
            )
            try await scenario.redis.send("SET", RedisArgument(scenario.keys.lock), "w:2:b-1", "PX", "10000")
            #expect(
                try await !store.fail(
                    .outcomeUnknown("timeout"),
                    generation: initial.generation,
                    lineage: initial.lineage,
                    by: "w:1:a-1"
                )
            )
            #expect(try await scenario.sessionField("unknown_generation") == nil)
            #expect(try await scenario.lockValue() == "w:2:b-1")
        }
    }

    @Test("New tokens committed after the session vanished (Redis lost its data) are stored, not dropped")
    func commitAfterDataLoss() async throws {
        let scenario = try Scenario(name: "p-gone")
        try await withRefresher(scenario.refresher()) { seeder in
            let initial = try await scenario.seed(using: seeder)
            let store = Self.store(scenario)
            _ = try await store.check(Self.request("w:1:a-1", generation: initial.generation))
            try await scenario.redis.send("DEL", RedisArgument(scenario.keys.sessionHash))
            let outcome = try await store.commit(
                RefreshedTokens(accessToken: "fresh-a", refreshToken: "fresh-r", expiresIn: .seconds(60)),
                after: initial,
                by: "w:1:a-1",
                duration: .milliseconds(5)
            )
            #expect(
                outcome == .committed(generation: initial.generation + 1, atMilliseconds: nil)
                    || {
                        if case .committed(let generation, _) = outcome { return generation == initial.generation + 1 }
                        return false
                    }()
            )
            #expect(try await scenario.sessionField("refresh_token") == "fresh-r")
            #expect(try await scenario.sessionField("lineage") == initial.lineage)
        }
    }

    @Test("An operator's release refuses a holder seen alive within the window, in the same atomic step")
    func releaseRefusesLiveHolder() async throws {
        let scenario = try Scenario(name: "p-release")
        let admin = SessionAdmin(connection: scenario.redis, keys: scenario.keys)
        let time = try await scenario.redis.send("TIME").array ?? []
        let now = (time.first?.int ?? 0) * 1000 + (time.last?.int ?? 0) / 1000
        try await scenario.redis.send("SET", RedisArgument(scenario.keys.lock), "w:1:a-1", "PX", "10000")
        try await scenario.redis.send("SET", RedisArgument(scenario.keys.lastRefreshTime), RedisArgument(now - 40_000))
        try await scenario.redis.send(
            "HSET",
            RedisArgument(scenario.keys.sessionHash),
            "attempt_by",
            "w:1:a-1",
            "attempt_heartbeat",
            RedisArgument(now - 2_000)
        )
        #expect(try await admin.release(owner: "w:1:a-1", unlessAliveWithin: .seconds(30)) == .holderAlive)
        #expect(try await scenario.lockValue() == "w:1:a-1")
        #expect(try await admin.release(owner: "w:1:a-1", unlessAliveWithin: .seconds(1)) == .released)
        #expect(try await admin.release(owner: "w:1:a-1", unlessAliveWithin: nil) == .notHeld)
    }

    @Test("A stats counter that is not an integer never breaks a script half-way")
    func corruptCounter() async throws {
        let scenario = try Scenario(name: "p-stats")
        try await withRefresher(scenario.refresher()) { refresher in
            let initial = try await scenario.seed(using: refresher)
            for field in ["waits", "refreshes", "takeovers", "failures", "fenced"] {
                try await scenario.redis.send("HSET", RedisArgument(scenario.keys.stats), RedisArgument(field), "x1.5")
            }
            let fresh = try await refresher.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(10))
            #expect(fresh.generation == initial.generation + 1)
            #expect(try await scenario.lockValue() == nil)
            #expect(try await scenario.stat("refreshes") == 1)
        }
    }

    @Test("Redis out of memory at commit time: nothing is announced, the commit is retried and lands afterwards")
    func outOfMemoryCommit() async throws {
        try await withRedisServer { server in
            let scenario = try Scenario(url: server.url, name: "p-oom")
            let admin = try RedisConnection(url: server.url)
            try await withRefresher(
                scenario.refresher(refresh: { current in
                    // The provider answers; by then Redis refuses every write.
                    _ = try? await admin.send("CONFIG", "SET", "maxmemory", "1")
                    return RefreshedTokens(
                        accessToken: "new-access",
                        refreshToken: "new-refresh",
                        expiresIn: .seconds(60)
                    )
                })
            ) { refresher in
                let initial = try await scenario.seed(using: refresher)
                let announced = Mutex<[RefresherEvent]>([])
                let listening = Task {
                    for await event in refresher.events() { announced.withLock { $0.append(event) } }
                }
                try await waitUntil(timeout: .seconds(10), "subscribed") { refresher.isListeningForEvents }
                let refreshing = Task {
                    try await refresher.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(20))
                }
                try await waitUntil(timeout: .seconds(10), "Redis is out of memory") {
                    try await admin.send("CONFIG", "GET", "maxmemory").array?.last?.string == "1"
                }
                // Wait until Redis has refused the commit twice (OOM errors in INFO errorstats): nothing announced, stored.
                try await waitUntil(timeout: .seconds(10), "two refused commits") {
                    let info = try await admin.send("INFO", "errorstats").string ?? ""
                    let line = info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("errorstat_OOM:") } ?? ""
                    return Int(line.split(separator: "=").dropFirst().first?.prefix { $0.isNumber } ?? "") ?? 0 >= 2
                }
                #expect(!announced.withLock { $0.contains { if case .refreshed = $0 { true } else { false } } })
                #expect(try await scenario.storedGeneration() == initial.generation)
                try await admin.send("CONFIG", "SET", "maxmemory", "0")
                let fresh = try await refreshing.value
                #expect(fresh.generation == initial.generation + 1)
                #expect(try await scenario.sessionField("access_token") == "new-access")
                listening.cancel()
                admin.close()
            }
        }
    }

    @Test("After Redis lost its data and a new session was stored, every process serves the new one")
    func newLineageAfterDataLoss() async throws {
        let scenario = try Scenario(name: "p-lineage")
        try await withRefresher(scenario.refresher()) { first in
            try await withRefresher(scenario.refresher()) { second in
                let initial = try await scenario.seed(using: first)
                // Move the old lineage on to generation 3 and let both processes cache it.
                let middle = try await first.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(10))
                let old = try await first.refreshAccessTokenOrReLogin(after: middle, timeout: .seconds(10))
                try await waitUntil(timeout: .seconds(10), "the second process caches generation 3") {
                    try await second.credentials().generation == old.generation
                }
                // Data loss, then a new login stored fresh: generation 1 of a new lineage.
                try await scenario.redis.send("DEL", RedisArgument(scenario.keys.sessionHash))
                let (access, refresh) = try await scenario.idp.start(salt: scenario.session + "-new")
                try await withRefresher(scenario.refresher()) { admin in
                    let (seeded, wrote) = try await admin.seedSession(
                        RefreshedTokens(accessToken: access, refreshToken: refresh, expiresIn: .seconds(3600))
                    )
                    #expect(wrote && seeded.generation == 1 && seeded.lineage != old.lineage)
                    for refresher in [first, second] {
                        try await waitUntil(timeout: .seconds(10), "the new session is served") {
                            try await refresher.credentials().accessToken == access
                        }
                        // A 401 with the old generation gets the new session, without a refresh.
                        let after = try await refresher.refreshAccessTokenOrReLogin(after: old, timeout: .seconds(10))
                        #expect(after.lineage == seeded.lineage && after.generation == 1)
                    }
                    #expect(try await scenario.idp.refreshCount() == 0)
                }
            }
        }
    }

    @Test(
        "Redis back at an already refreshed generation: the newer session is written back, never the old token reused"
    )
    func redisWentBackwards() async throws {
        let scenario = try Scenario(name: "p-back")
        try await withRefresher(scenario.refresher()) { first in
            let initial = try await scenario.seed(using: first)
            let second = try await first.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(10))
            #expect(second.generation == initial.generation + 1)
            // Redis loses the last write (a failover with replication lag, a restore): generation 1 with its used token.
            try await scenario.redis.send(
                "HSET",
                RedisArgument(scenario.keys.sessionHash),
                "generation",
                RedisArgument(initial.generation),
                "access_token",
                RedisArgument(initial.accessToken),
                "refresh_token",
                RedisArgument(initial.refreshToken)
            )
            // A process that still holds generation 2 writes it back and refreshes with its refresh token.
            #expect(try await first.credentials().generation == second.generation)
            let third = try await first.refreshAccessTokenOrReLogin(after: second, timeout: .seconds(10))
            #expect(third.generation == second.generation + 1)
            #expect(try await scenario.idp.refreshCount() == 2)
            #expect(try await scenario.idp.reuseCount() == 0)
            // A process without the newer copy never presents the old token: the outcome is recorded as unknown.
            try await scenario.redis.send(
                "HSET",
                RedisArgument(scenario.keys.sessionHash),
                "generation",
                RedisArgument(initial.generation),
                "access_token",
                RedisArgument(initial.accessToken),
                "refresh_token",
                RedisArgument(initial.refreshToken)
            )
            try await withRefresher(scenario.refresher()) { fresh in
                do throws(RefresherError) {
                    _ = try await fresh.refreshAccessTokenOrReLogin(after: third, timeout: .seconds(10))
                    Issue.record("expected outcomeUnknown")
                } catch {
                    #expect(error.code == .outcomeUnknown)
                }
            }
            #expect(try await scenario.idp.reuseCount() == 0)
        }
    }

    @Test("A lock that expired during the refresh is taken back by its holder while the session has not moved")
    func lockReclaimed() async throws {
        let scenario = try Scenario(name: "p-reclaim")
        try await withRefresher(scenario.refresher(latency: .milliseconds(4000), lockTTL: .milliseconds(1500))) {
            refresher in
            let initial = try await scenario.seed(using: refresher)
            let refreshing = Task {
                try await refresher.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(10))
            }
            try await waitUntil(timeout: .seconds(5), "the lock is taken") {
                try await scenario.isLockHeld(by: refresher.connections.ownerID)
            }
            let lock = try await scenario.lockValue()
            try await scenario.redis.send("DEL", RedisArgument(scenario.keys.lock))
            try await waitUntil(timeout: .seconds(5), "the holder takes its lock back") {
                try await scenario.lockValue() == lock
            }
            #expect(try await refreshing.value.generation == initial.generation + 1)
        }
    }

    @Test("Connections dropped without shutdown() are closed, so their I/O threads end")
    func droppedConnectionsAreClosed() async throws {
        var connections: RefresherConnections? = try RefresherConnections(url: TestRedis.url)
        let commands = try #require(connections?.commands)
        _ = try await commands.send("PING")
        connections = nil
        do {
            _ = try await commands.send("PING")
            Issue.record("the command connection is still open")
        } catch {
            #expect(error.code == .clientClosed)
        }
    }

    @Test("validate() names the fields of a command timeout or refresh timeout that does not fit the lock TTL")
    func timingRelations() async throws {
        let tooLong = RefresherConfiguration(
            redisURL: TestRedis.url,
            session: "ok",
            lockTTL: .seconds(1),
            refreshTimeout: .seconds(30)
        )
        #expect(throws: RefresherError.self) { try tooLong.validate() }
        do {
            try tooLong.validate()
        } catch {
            #expect(error.message.contains("refreshTimeout") && error.message.contains("lockTTL"))
        }
        try await withRefresherConnections(commandTimeout: .seconds(2)) { shared in
            do throws(RefresherError) {
                _ = try await RedisRefresher(
                    configuration: .init(redisURL: TestRedis.url, session: "ok", lockTTL: .seconds(3)),
                    connections: shared,
                    refresh: { _ in throw RefreshFailure.rejected("unused") }
                )
                Issue.record("a 2 s command timeout was accepted with a 3 s lock TTL")
            } catch {
                #expect(error.code == .invalidConfiguration)
                #expect(error.message.contains("command timeout") && error.message.contains("lockTTL"))
            }
        }
    }
}
