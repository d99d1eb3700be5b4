import RedisRefresher
import RedisTestSupport
import Synchronization
import Testing

@Suite("Validation")
struct ValidationTests {
    @Test(
        "Hostile or malformed session names are refused",
        arguments: ["", String(repeating: "a", count: 201), "a{b}", "a*", "a?", "a[b]", "a b", "a\nb", "café", "a/b"]
    )
    func badSessionNames(_ name: String) {
        #expect(throws: RefresherError.self) { try SessionName(name) }
    }

    @Test(
        "Good session names are accepted",
        arguments: ["a", "crm-api", "tenant_1.prod:eu", String(repeating: "z", count: 200)]
    )
    func goodSessionNames(_ name: String) throws {
        #expect(try SessionName(name).rawValue == name)
    }

    @Test("Keys share one hash tag")
    func keyLayout() throws {
        let keys = SessionKeys(session: try SessionName("crm-api"))
        #expect(keys.lock == "refresher:{crm-api}:lock")
        #expect(keys.lastRefreshTime == "refresher:{crm-api}:last_refresh_time")
        #expect(keys.sessionHash == "refresher:{crm-api}:session")
        #expect(keys.events == "refresher:{crm-api}:events")
        #expect(keys.stats == "refresher:{crm-api}:stats")
    }

    @Test("Bad configuration values are refused before any I/O")
    func badConfiguration() async {
        let bad: [RefresherConfiguration] = [
            .init(redisURL: TestRedis.url, session: "ok", lockTTL: .milliseconds(5)),
            .init(redisURL: TestRedis.url, session: "ok", pollInterval: .zero),
            .init(redisURL: TestRedis.url, session: "ok", refreshTimeout: .seconds(-1)),
            .init(redisURL: TestRedis.url, session: "ok", keyPrefix: "a b"),
            .init(redisURL: "http://nope", session: "ok"),
            .init(redisURL: TestRedis.url, session: "{bad}"),
            .init(redisURL: TestRedis.url, session: "ok", refreshAhead: .seconds(30), refreshAheadSpread: -0.1),
            .init(redisURL: TestRedis.url, session: "ok", refreshAhead: .seconds(30), refreshAheadSpread: 1.5),
            .init(redisURL: TestRedis.url, session: "ok", refreshAhead: .seconds(30), refreshAheadSpread: .nan),
        ]
        for configuration in bad {
            do {
                _ = try await RedisRefresher(configuration: configuration) { _ in
                    RefreshedTokens(accessToken: "a", refreshToken: "r", expiresIn: .seconds(1))
                }
                Issue.record("accepted \(configuration)")
            } catch {
                #expect(error.code == .invalidConfiguration)
            }
        }
    }

    @Test("An unreachable Redis fails construction with redisUnavailable")
    func unreachableRedis() async throws {
        let port = try freeLoopbackPort()
        do {
            _ = try await RedisRefresher(configuration: .init(redisURL: "redis://127.0.0.1:\(port)", session: "x")) {
                _ in
                RefreshedTokens(accessToken: "a", refreshToken: "r", expiresIn: .seconds(1))
            }
            Issue.record("constructed against a closed port")
        } catch {
            #expect(error.code == .redisUnavailable)
        }
    }

    @Test("Event lines parse; unknown lines are kept")
    func eventParsing() {
        #expect(
            RefresherEvent(line: "refreshed generation=5 by=h:1:a duration_ms=12")
                == .refreshed(generation: 5, by: "h:1:a", durationMilliseconds: 12)
        )
        #expect(
            RefresherEvent(line: "failed generation=4 kind=rejected by=h:1:a reason=invalid_grant (reuse)")
                == .failed(generation: 4, outcome: .rejected, by: "h:1:a", reason: "invalid_grant (reuse)")
        )
        #expect(
            RefresherEvent(line: "failed generation=4 kind=unknown by=h:1:a reason=timeout")
                == .failed(generation: 4, outcome: .unknown, by: "h:1:a", reason: "timeout")
        )
        #expect(
            RefresherEvent(line: "failed generation=4 kind=transient by=h:1:a reason=HTTP 503")
                == .failed(generation: 4, outcome: .notProcessed, by: "h:1:a", reason: "HTTP 503")
        )
        #expect(RefresherEvent(line: "released by=h:1:a reason=shutdown") == .released(by: "h:1:a", reason: "shutdown"))
        #expect(RefresherEvent(line: "replaced generation=2 by=x") == .replaced(generation: 2, by: "x"))
        #expect(RefresherEvent(line: "refreshed generation=NaN") == .unknown("refreshed generation=NaN"))
        #expect(RefresherEvent(line: "") == .unknown(""))
    }

    @Test("Corrupt stored sessions give corruptSession, wrong key types a redisError")
    func corruptData() async throws {
        let scenario = try Scenario()
        try await withRefresher(scenario.refresher()) { refresher in
            try await scenario.redis.send("HSET", RedisArgument(scenario.keys.sessionHash), "generation", "banana")
            await #expect(throws: RefresherError.self) { _ = try await refresher.credentials() }
            do throws(RefresherError) {
                _ = try await refresher.refreshAccessTokenOrReLogin(
                    after: Credentials(accessToken: "a", refreshToken: "r", expiresAtMilliseconds: nil, generation: 1),
                    timeout: .seconds(5)
                )
            } catch {
                #expect(error.code == .corruptSession)
            }
            try await scenario.redis.send("DEL", RedisArgument(scenario.keys.sessionHash))
            try await scenario.redis.send("SET", RedisArgument(scenario.keys.sessionHash), "not a hash")
            do throws(RefresherError) {
                _ = try await refresher.credentials()
                Issue.record("read a string as a session")
            } catch {
                #expect(error.code == .redisError)
                #expect(error.message.contains("WRONGTYPE"))
            }
            // Nothing was overwritten.
            #expect(
                try await scenario.redis.send("GET", RedisArgument(scenario.keys.sessionHash)).string == "not a hash"
            )
        }
    }

    @Test("No session stored: noSession")
    func noSession() async throws {
        let scenario = try Scenario()
        try await withRefresher(scenario.refresher()) { refresher in
            do throws(RefresherError) {
                _ = try await refresher.credentials()
                Issue.record("expected noSession")
            } catch {
                #expect(error.code == .noSession)
            }
        }
    }
}

@Suite("Wrong key types")
struct WrongKeyTypeTests {
    @Test(
        "A refresher key of the wrong type gives a clear redisError and changes nothing",
        arguments: ["lock", "last_refresh_time", "stats"]
    )
    func wrongType(key: String) async throws {
        let scenario = try Scenario(name: "wt")
        try await withRefresher(scenario.refresher()) { refresher in
            let initial = try await scenario.seed(using: refresher)
            let name: String
            switch key {
            case "lock":
                name = scenario.keys.lock
                try await scenario.redis.send("HSET", RedisArgument(name), "owner", "me")
            case "last_refresh_time":
                name = scenario.keys.lastRefreshTime
                try await scenario.redis.send("RPUSH", RedisArgument(name), "x")
            default:
                name = scenario.keys.stats
                try await scenario.redis.send("SET", RedisArgument(name), "not a hash")
            }
            let before = try await scenario.redis.send("HGETALL", RedisArgument(scenario.keys.sessionHash))
            do throws(RefresherError) {
                _ = try await refresher.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(5))
                Issue.record("refreshed over a \(key) of the wrong type")
            } catch {
                #expect(error.code == .redisError)
                #expect(error.message.contains("WRONGTYPE") && error.message.contains(name), "\(error.message)")
            }
            // Nothing changed: the session, the foreign key, and the identity provider were not touched.
            #expect(try await scenario.redis.send("HGETALL", RedisArgument(scenario.keys.sessionHash)) == before)
            #expect(try await scenario.redis.send("TYPE", RedisArgument(name)) != .status("none"))
            #expect(try await scenario.idp.refreshCount() == 0)
        }
    }

    @Test("An event line that does not parse is ignored; waiters still resolve")
    func garbageEvents() async throws {
        let scenario = try Scenario(name: "garbage")
        try await withRefresher(scenario.refresher(latency: .milliseconds(300))) { refresher in
            try await withRefresher(scenario.refresher()) { other in
                let initial = try await scenario.seed(using: refresher)
                let holder = Task {
                    try await refresher.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(10))
                }
                let owner = refresher.connections.ownerID
                try await waitUntil(timeout: .seconds(5), "the lock is taken") {
                    try await scenario.isLockHeld(by: owner)
                }
                let waiter = Task { try await other.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(10)) }
                for line in [
                    "", "refreshed", "failed generation=abc", String(repeating: "x", count: 100_000), "\u{0}\u{1}",
                ] {
                    try await scenario.redis.send("PUBLISH", RedisArgument(scenario.keys.events), RedisArgument(line))
                }
                #expect(try await holder.value.generation == initial.generation + 1)
                #expect(try await waiter.value.generation == initial.generation + 1)
            }
        }
    }

    @Test("Tokens that expire at once are stored all the same: the provider's answer is never thrown away")
    func expiredTokens() async throws {
        let scenario = try Scenario(name: "expired")
        let presented = Mutex<[String]>([])
        try await withRefresher(
            scenario.refresher(refresh: { current in
                let count = presented.withLock { list -> Int in
                    list.append(current.refreshToken)
                    return list.count
                }
                return RefreshedTokens(
                    accessToken: "a\(count)",
                    refreshToken: "r\(count)",
                    expiresAtMilliseconds: 1_000
                )
            })
        ) { refresher in
            let initial = try await scenario.seed(using: refresher)
            let fresh = try await refresher.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(5))
            #expect(fresh.generation == initial.generation + 1)
            #expect(fresh.isExpired())
            #expect(try await scenario.storedGeneration() == initial.generation + 1)
            // The next 401 refreshes again, with the new refresh token.
            let again = try await refresher.refreshAccessTokenOrReLogin(after: fresh, timeout: .seconds(5))
            #expect(again.generation == fresh.generation + 1)
            #expect(presented.withLock { $0 } == [initial.refreshToken, "r1"])
        }
    }

    @Test("A giant token in the stored session is reported as corrupt, not passed on")
    func giantValue() async throws {
        let scenario = try Scenario(name: "giant")
        try await withRefresher(scenario.refresher()) { refresher in
            _ = try await scenario.seed(using: refresher)
            try await scenario.redis.send(
                "HSET",
                RedisArgument(scenario.keys.sessionHash),
                "access_token",
                RedisArgument([UInt8](repeating: 65, count: 1 << 20))
            )
            // A fresh refresher reads the stored session.
            try await withRefresher(scenario.refresher()) { reader in
                do throws(RefresherError) {
                    _ = try await reader.credentials()
                    Issue.record("accepted a 1 MiB token")
                } catch {
                    #expect(error.code == .corruptSession)
                }
            }
        }
    }
}
