import RedisRefresher
import RedisTestSupport
import Testing

@Suite("Validation")
struct ValidationTests {
    @Test(
        "Hostile or malformed session names are refused",
        arguments: ["", String(repeating: "a", count: 201), "a{b}", "a*", "a?", "a[b]", "a b", "a\nb", "café", "a/b"])
    func badSessionNames(_ name: String) {
        #expect(throws: RefresherError.self) { try SessionName(name) }
    }

    @Test("Good session names are accepted", arguments: ["a", "crm-api", "tenant_1.prod:eu", String(repeating: "z", count: 200)])
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
            _ = try await RedisRefresher(configuration: .init(redisURL: "redis://127.0.0.1:\(port)", session: "x")) { _ in
                RefreshedTokens(accessToken: "a", refreshToken: "r", expiresIn: .seconds(1))
            }
            Issue.record("constructed against a closed port")
        } catch {
            #expect(error.code == .redisUnavailable)
        }
    }

    @Test("Event lines parse; unknown lines are kept")
    func eventParsing() {
        #expect(RefresherEvent(line: "refreshed generation=5 by=h:1:a duration_ms=12")
            == .refreshed(generation: 5, by: "h:1:a", durationMilliseconds: 12))
        #expect(RefresherEvent(line: "failed generation=4 kind=rejected by=h:1:a reason=invalid_grant (reuse)")
            == .failed(generation: 4, rejected: true, by: "h:1:a", reason: "invalid_grant (reuse)"))
        #expect(RefresherEvent(line: "released by=h:1:a reason=shutdown") == .released(by: "h:1:a", reason: "shutdown"))
        #expect(RefresherEvent(line: "replaced generation=2 by=x") == .replaced(generation: 2, by: "x"))
        #expect(RefresherEvent(line: "refreshed generation=NaN") == .unknown("refreshed generation=NaN"))
        #expect(RefresherEvent(line: "") == .unknown(""))
    }

    @Test("Corrupt stored sessions give corruptSession, wrong key types a redisError")
    func corruptData() async throws {
        let scenario = try Scenario()
        let refresher = try await scenario.refresher()
        try await scenario.redis.send("HSET", RedisArgument(scenario.keys.sessionHash), "generation", "banana")
        await #expect(throws: RefresherError.self) { _ = try await refresher.credentials() }
        do {
            _ = try await refresher.refreshAccessTokenOrReLogin(
                after: Credentials(accessToken: "a", refreshToken: "r", expiresAtMilliseconds: nil, generation: 1),
                timeout: .seconds(5))
        } catch {
            #expect(error.code == .corruptSession)
        }
        try await scenario.redis.send("DEL", RedisArgument(scenario.keys.sessionHash))
        try await scenario.redis.send("SET", RedisArgument(scenario.keys.sessionHash), "not a hash")
        do {
            _ = try await refresher.credentials()
            Issue.record("read a string as a session")
        } catch {
            #expect(error.code == .redisError)
            #expect(error.message.contains("WRONGTYPE"))
        }
        // Nothing was overwritten.
        #expect(try await scenario.redis.send("GET", RedisArgument(scenario.keys.sessionHash)).string == "not a hash")
        await refresher.shutdown()
    }

    @Test("No session stored: noSession")
    func noSession() async throws {
        let scenario = try Scenario()
        let refresher = try await scenario.refresher()
        do {
            _ = try await refresher.credentials()
            Issue.record("expected noSession")
        } catch {
            #expect(error.code == .noSession)
        }
        await refresher.shutdown()
    }
}
