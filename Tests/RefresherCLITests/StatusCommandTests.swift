import Foundation
import RedisRefresher
import RedisTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `refresher status`, run as the built executable against the test Redis. Each test uses a session of its own.
@Suite("refresher status")
struct StatusCommandTests {
    @Test("status: lock, generation, expiry, fingerprints and stats; never the tokens")
    func statusHuman() async throws {
        let fixture = try OperatorFixture()
        try await fixture.storeSession(expiresIn: .seconds(3600))
        try await fixture.redis.send("SET", .init(fixture.keys.lock), "web-1:42:abcd", "PX", "60000")
        try await fixture.redis.send("HSET", .init(fixture.keys.stats), "refreshes", "2", "waits", "7")

        let result = try await fixture.run(["status"])
        #expect(result.status == 0, "\(result.stderr)")
        let rows = OperatorFixture.rows(result.stdout)
        #expect(rows["session"] == fixture.name)
        #expect(rows["state"] == "ok")
        #expect(rows["generation"] == "1")
        #expect(rows["expires"]?.contains("(expires in ") == true, "\(rows)")
        #expect(rows["refreshed by"] == "operator")
        #expect(rows["access token"] == TokenFingerprint.of(fixture.accessToken))
        #expect(rows["refresh token"] == TokenFingerprint.of(fixture.refreshToken))
        #expect(rows["lock"]?.hasPrefix("held by web-1:42:abcd (expires in ") == true, "\(rows)")
        #expect(rows["stats"]?.contains("refreshes=2") == true)
        #expect(rows["stats"]?.contains("waits=7") == true)
        #expect(rows["rejected"] == nil)
        fixture.expectNoTokens(in: result)
        // Aligned: every value starts in the same column.
        let columns = Set(
            result.stdout.split(separator: "\n").map { line in
                line.firstRange(of: "  ").map { range in
                    line.distance(from: line.startIndex, to: range.lowerBound)
                        + line[range.lowerBound...].prefix { $0 == " " }.count
                } ?? -1
            }
        )
        #expect(columns.count == 1, "\(result.stdout)")
    }

    @Test("status --json: one object with stable fields, null where not applicable")
    func statusJSON() async throws {
        let fixture = try OperatorFixture()
        try await fixture.storeSession(expiresIn: .seconds(3600))
        try await fixture.redis.send("SET", .init(fixture.keys.lock), "web-2:7:ffff", "PX", "60000")
        try await fixture.redis.send("HSET", .init(fixture.keys.stats), "refreshes", "3")

        let result = try await fixture.run(["status", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try OperatorFixture.jsonObject(result.stdout)
        #expect(object["session"] as? String == fixture.name)
        #expect(object["state"] as? String == "ok")
        #expect(object["has_session"] as? Bool == true)
        #expect(object["generation"] as? Int == 1)
        #expect(object["access_token_fingerprint"] as? String == TokenFingerprint.of(fixture.accessToken))
        #expect(object["refresh_token_fingerprint"] as? String == TokenFingerprint.of(fixture.refreshToken))
        #expect(object["refreshed_by"] as? String == "operator")
        #expect(object["relogin_required"] as? Bool == false)
        #expect(object["expired"] as? Bool == false)
        let expiresIn = try #require(object["expires_in_ms"] as? Int)
        #expect(expiresIn > 3_500_000 && expiresIn <= 3_600_000)
        let serverTime = try #require(object["server_time_ms"] as? Int)
        #expect(object["expires_at_ms"] as? Int == serverTime + expiresIn)
        let lock = try #require(object["lock"] as? [String: Any])
        #expect(lock["holder"] as? String == "web-2:7:ffff")
        #expect((lock["ttl_ms"] as? Int ?? 0) > 50_000)
        #expect((object["stats"] as? [String: Any])?["refreshes"] as? Int == 3)
        // Absent values are present as null, so the shape never changes.
        #expect(object["rejected_reason"] is NSNull)
        #expect(object["last_refresh_time_ms"] is NSNull)
        fixture.expectNoTokens(in: result)
    }

    @Test("status: a refresh whose answer was lost (outcome unknown) asks for a re-login; session put clears it")
    func statusUnknownOutcome() async throws {
        let fixture = try OperatorFixture()
        try await fixture.storeSession(expiresAtMilliseconds: UnixTime.nowMilliseconds + 60_000)
        try await fixture.redis.send(
            "HSET",
            .init(fixture.keys.sessionHash),
            "unknown_generation",
            "1",
            "unknown_reason",
            "no answer within 30s"
        )
        let rows = OperatorFixture.rows(try await fixture.run(["status"]).stdout)
        #expect(rows["state"]?.contains("answer was lost") == true, "\(rows)")
        #expect(rows["outcome unknown"]?.hasPrefix("no answer within 30s") == true, "\(rows)")
        let json = try OperatorFixture.jsonObject(try await fixture.run(["status", "--json"]).stdout)
        #expect(json["state"] as? String == "relogin_required")
        #expect(json["unknown_outcome_reason"] as? String == "no answer within 30s")
        let admin = SessionAdmin(connection: fixture.redis, keys: fixture.keys)
        _ = try await admin.putSession(
            RefreshedTokens(accessToken: "a-new", refreshToken: "r-new", expiresIn: .seconds(60))
        )
        let after = try OperatorFixture.jsonObject(try await fixture.run(["status", "--json"]).stdout)
        #expect(after["state"] as? String == "ok")
        #expect(after["unknown_outcome_reason"] is NSNull)
    }

    @Test("status: an expired token and a rejected refresh token (re-login required)")
    func statusExpiredAndRejected() async throws {
        let fixture = try OperatorFixture()
        try await fixture.storeSession(expiresAtMilliseconds: UnixTime.nowMilliseconds - 30_000)
        try await fixture.redis.send(
            "HSET",
            .init(fixture.keys.sessionHash),
            "rejected_generation",
            "1",
            "rejected_reason",
            "invalid_grant"
        )

        let human = try await fixture.run(["status"])
        #expect(human.status == 0, "\(human.stderr)")
        let rows = OperatorFixture.rows(human.stdout)
        #expect(rows["state"]?.hasPrefix("re-login required") == true, "\(rows)")
        #expect(rows["expires"]?.contains("(expired ") == true && rows["expires"]?.hasSuffix(" ago)") == true)
        #expect(rows["rejected"] == "invalid_grant (re-login required)")
        #expect(rows["lock"] == "free")

        let json = try OperatorFixture.jsonObject(try await fixture.run(["status", "--json"]).stdout)
        #expect(json["state"] as? String == "relogin_required")
        #expect(json["relogin_required"] as? Bool == true)
        #expect(json["rejected_reason"] as? String == "invalid_grant")
        #expect(json["expired"] as? Bool == true)
        #expect((json["expires_in_ms"] as? Int ?? 0) < -20_000)
        #expect(json["lock"] is NSNull)
    }

    @Test("status with no stored session says so and exits 0")
    func statusNoSession() async throws {
        let fixture = try OperatorFixture()
        let human = try await fixture.run(["status"])
        #expect(human.status == 0, "\(human.stderr)")
        #expect(human.stdout.contains("no session stored"))
        #expect(OperatorFixture.rows(human.stdout)["lock"] == "free")

        let json = try await fixture.run(["status", "--json"])
        #expect(json.status == 0)
        let object = try OperatorFixture.jsonObject(json.stdout)
        #expect(object["has_session"] as? Bool == false)
        #expect(object["state"] as? String == "no_session")
        #expect(object["generation"] is NSNull)
    }

    @Test("status shows when the lock holder was last seen alive", arguments: [true, false])
    func statusHolderSeen(_ recorded: Bool) async throws {
        let fixture = try OperatorFixture()
        try await fixture.redis.send("SET", .init(fixture.keys.lock), "web-9:9:9999", "PX", "60000")
        if recorded {
            let taken = try await fixture.serverTime() - 2_100
            try await fixture.redis.send("SET", .init(fixture.keys.lastRefreshTime), .init(taken))
        }
        let result = try await fixture.run(["status"])
        #expect(result.status == 0, "\(result.stderr)")
        let seen = try #require(OperatorFixture.rows(result.stdout)["holder seen"], "\(result.stdout)")
        if recorded {
            // 2.1 s plus the time the command took to start.
            let seconds = seen.hasSuffix(" s ago") ? Double(seen.dropLast(" s ago".count)) : nil
            #expect(seconds.map { $0 >= 2.1 && $0 < 10 } == true, "\(seen)")
        } else {
            #expect(seen == "unknown")
        }
    }
}
