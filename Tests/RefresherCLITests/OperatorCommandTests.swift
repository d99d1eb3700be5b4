import Foundation
import RedisRefresher
import RedisTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The operator subcommands (`status`, `watch`, `release`, `session put`), run as the built executable against the
/// test Redis. Each test uses a session of its own.
@Suite("refresher status, watch, release, session put")
struct OperatorCommandTests {
    // MARK: status

    @Test("status: lock, generation, expiry, fingerprints and stats; never the tokens")
    func statusHuman() async throws {
        let fixture = try OperatorFixture()
        try await fixture.storeSession(expiresIn: .seconds(3600))
        try await fixture.redis.send("SET", .init(fixture.keys.lock), "web-1:42:abcd", "PX", "60000")
        try await fixture.redis.send("HSET", .init(fixture.keys.stats), "refreshes", "2", "waits", "7")

        let result = try await fixture.run(["status"])
        #expect(result.status == 0, "\(result.stderr)")
        let rows = Self.rows(result.stdout)
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
            })
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
        let object = try Self.jsonObject(result.stdout)
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
            "HSET", .init(fixture.keys.sessionHash), "unknown_generation", "1", "unknown_reason", "no answer within 30s"
        )
        let rows = Self.rows(try await fixture.run(["status"]).stdout)
        #expect(rows["state"]?.contains("answer was lost") == true, "\(rows)")
        #expect(rows["outcome unknown"]?.hasPrefix("no answer within 30s") == true, "\(rows)")
        let json = try Self.jsonObject(try await fixture.run(["status", "--json"]).stdout)
        #expect(json["state"] as? String == "relogin_required")
        #expect(json["unknown_outcome_reason"] as? String == "no answer within 30s")
        let admin = SessionAdmin(connection: fixture.redis, keys: fixture.keys)
        _ = try await admin.putSession(
            RefreshedTokens(accessToken: "a-new", refreshToken: "r-new", expiresIn: .seconds(60)))
        let after = try Self.jsonObject(try await fixture.run(["status", "--json"]).stdout)
        #expect(after["state"] as? String == "ok")
        #expect(after["unknown_outcome_reason"] is NSNull)
    }

    @Test("status: an expired token and a rejected refresh token (re-login required)")
    func statusExpiredAndRejected() async throws {
        let fixture = try OperatorFixture()
        try await fixture.storeSession(expiresAtMilliseconds: UnixTime.nowMilliseconds - 30_000)
        try await fixture.redis.send(
            "HSET", .init(fixture.keys.sessionHash), "rejected_generation", "1", "rejected_reason", "invalid_grant")

        let human = try await fixture.run(["status"])
        #expect(human.status == 0, "\(human.stderr)")
        let rows = Self.rows(human.stdout)
        #expect(rows["state"]?.hasPrefix("re-login required") == true, "\(rows)")
        #expect(rows["expires"]?.contains("(expired ") == true && rows["expires"]?.hasSuffix(" ago)") == true)
        #expect(rows["rejected"] == "invalid_grant (re-login required)")
        #expect(rows["lock"] == "free")

        let json = try Self.jsonObject(try await fixture.run(["status", "--json"]).stdout)
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
        #expect(Self.rows(human.stdout)["lock"] == "free")

        let json = try await fixture.run(["status", "--json"])
        #expect(json.status == 0)
        let object = try Self.jsonObject(json.stdout)
        #expect(object["has_session"] as? Bool == false)
        #expect(object["state"] as? String == "no_session")
        #expect(object["generation"] is NSNull)
    }

    // MARK: watch

    @Test("watch --json prints replaced, released and refreshed events with their fields")
    func watchJSON() async throws {
        let fixture = try OperatorFixture()
        let watch = try await CLIProcess(fixture.arguments(["watch", "--count", "3", "--json", "--timeout", "60"]))
        defer { watch.kill() }
        try await watch.waitForSubscription()

        let before = Date().timeIntervalSince1970
        try await fixture.storeSession(expiresIn: .seconds(60))
        try await fixture.redis.send("SET", .init(fixture.keys.lock), "web-3:9:aaaa", "PX", "60000")
        #expect(try await fixture.admin.release(owner: "web-3:9:aaaa", reason: "shutdown"))
        try await fixture.redis.send(
            "PUBLISH", .init(fixture.keys.events), "refreshed generation=2 by=web-4:1:bbbb duration_ms=12")

        let status = try await watch.waitForExit()
        #expect(status == 0, "\(watch.stderr)")
        let events = try watch.stdout.split(separator: "\n").map { try Self.jsonObject(String($0)) }
        try #require(events.count == 3, "\(watch.stdout)")
        #expect(events[0]["event"] as? String == "replaced")
        #expect(events[0]["generation"] as? Int == 1)
        #expect(events[0]["by"] as? String == "operator")
        #expect(events[1]["event"] as? String == "released")
        #expect(events[1]["by"] as? String == "web-3:9:aaaa")
        #expect(events[1]["reason"] as? String == "shutdown")
        #expect(events[2]["event"] as? String == "refreshed")
        #expect(events[2]["generation"] as? Int == 2)
        #expect(events[2]["duration_ms"] as? Int == 12)
        for event in events {
            let time = try #require(event["time"] as? Double)
            #expect(time >= before - 1 && time <= Date().timeIntervalSince1970 + 1)
        }
        #expect(!watch.stdout.contains(fixture.accessToken) && !watch.stdout.contains(fixture.refreshToken))
    }

    @Test("watch prints a failed event with a local timestamp and the re-login hint")
    func watchHuman() async throws {
        let fixture = try OperatorFixture()
        let watch = try await CLIProcess(fixture.arguments(["watch", "--count", "1", "--timeout", "60"]))
        defer { watch.kill() }
        try await watch.waitForSubscription()
        try await fixture.redis.send(
            "PUBLISH", .init(fixture.keys.events),
            "failed generation=4 kind=rejected by=web-5:2:cccc reason=invalid grant")
        #expect(try await watch.waitForExit() == 0, "\(watch.stderr)")
        let line = watch.stdout.trimmingCharacters(in: .newlines)
        #expect(
            line.wholeMatch(of: /\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}  failed     (.*)/)?.output.1
                == "generation=4 kind=rejected by=web-5:2:cccc reason=invalid grant (re-login required)", "\(line)")
    }

    @Test("watch reports a gap when its subscription is lost and resumes", .timeLimit(.minutes(1)))
    func watchGap() async throws {
        // A private server: killing pub/sub connections must not disturb other tests.
        let server = try await RedisServerProcess()
        let fixture = try OperatorFixture(url: server.url)
        let watch = try await CLIProcess(fixture.arguments(["watch", "--count", "1", "--timeout", "60"]))
        defer { watch.kill() }
        try await watch.waitForSubscription()
        try await fixture.redis.send("CLIENT", "KILL", "TYPE", "pubsub")
        try await waitUntil(timeout: .seconds(20), "watch prints the gap") { watch.stdout.contains("  gap  ") }
        try await fixture.redis.send("PUBLISH", .init(fixture.keys.events), "replaced generation=9 by=ops")
        #expect(try await watch.waitForExit() == 0, "\(watch.stderr)")
        let lines = watch.stdout.split(separator: "\n")
        #expect(lines.count == 2, "\(watch.stdout)")
        #expect(lines.last?.hasSuffix("replaced   generation=9 by=ops") == true, "\(watch.stdout)")
        try await server.stop()
    }

    @Test("watch exits 0 on SIGINT and on SIGTERM", arguments: [SIGINT, SIGTERM])
    func watchSignal(_ signal: Int32) async throws {
        let fixture = try OperatorFixture()
        let watch = try await CLIProcess(fixture.arguments(["watch"]))
        defer { watch.kill() }
        try await watch.waitForSubscription()
        watch.signal(signal)
        #expect(try await watch.waitForExit() == 0, "\(watch.stderr)")
        #expect(!watch.stderr.contains("error"))
    }

    @Test("watch --timeout without enough events exits 1 with one line")
    func watchTimeout() async throws {
        let fixture = try OperatorFixture()
        let result = try await fixture.run(["watch", "--count", "1", "--timeout", "0.5"])
        #expect(result.status == 1)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.first?.hasPrefix("watching ") == true)
        #expect(lines.count == 2 && lines.last?.contains("timed out after") == true, "\(result.stderr)")
    }

    // MARK: release

    @Test("release --owner releases the owner's lock and publishes nothing else")
    func releaseOwnerMatch() async throws {
        let fixture = try OperatorFixture()
        try await fixture.redis.send("SET", .init(fixture.keys.lock), "web-6:1:dddd", "PX", "60000")
        let result = try await fixture.run(["release", "--owner", "web-6:1:dddd"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "released lock held by web-6:1:dddd\n")
        #expect(try await fixture.lockHolder() == nil)
    }

    @Test("release --owner never deletes another owner's lock: exit 2")
    func releaseOwnerMismatch() async throws {
        let fixture = try OperatorFixture()
        try await fixture.redis.send("SET", .init(fixture.keys.lock), "web-7:1:eeee", "PX", "60000")
        let result = try await fixture.run(["release", "--owner", "web-6:1:dddd"])
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stdout.contains("not released: the lock is held by web-7:1:eeee"))
        #expect(try await fixture.lockHolder() == "web-7:1:eeee")

        let json = try await fixture.run(["release", "--owner", "web-6:1:dddd", "--json"])
        #expect(json.status == 2)
        let object = try Self.jsonObject(json.stdout)
        #expect(object["outcome"] as? String == "held_by_another")
        #expect(object["released"] as? Bool == false)
        #expect(object["holder"] as? String == "web-7:1:eeee")
        #expect(try await fixture.lockHolder() == "web-7:1:eeee")
    }

    @Test("release without --owner or --force, or --force unconfirmed, leaves the lock")
    func releaseRefusesWithoutOwnerOrConfirmation() async throws {
        let fixture = try OperatorFixture()
        try await fixture.redis.send("SET", .init(fixture.keys.lock), "web-8:1:ffff", "PX", "60000")
        let noOwner = try await fixture.run(["release"])
        Self.expectOneLineError(noOwner)
        #expect(noOwner.stderr.contains("--owner"))
        // stdin is a pipe, not a terminal: even a "y" on it is no confirmation.
        let unconfirmed = try await fixture.run(["release", "--force"], stdin: "y\n")
        Self.expectOneLineError(unconfirmed, lines: 2)
        #expect(unconfirmed.stderr.contains("--yes"))
        #expect(unconfirmed.stderr.contains("held by web-8:1:ffff"))
        #expect(try await fixture.lockHolder() == "web-8:1:ffff")
    }

    @Test("release --force --yes releases the current holder")
    func releaseForce() async throws {
        let fixture = try OperatorFixture()
        try await fixture.redis.send("SET", .init(fixture.keys.lock), "web-9:1:0000", "PX", "60000")
        let result = try await fixture.run(["release", "--force", "--yes", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try Self.jsonObject(result.stdout)
        #expect(object["outcome"] as? String == "released")
        #expect(object["released"] as? Bool == true)
        #expect(object["holder"] as? String == "web-9:1:0000")
        #expect(result.stderr.contains("held by web-9:1:0000"))
        #expect(try await fixture.lockHolder() == nil)
    }

    @Test("release with no lock held says so and exits 0")
    func releaseNoLock() async throws {
        let fixture = try OperatorFixture()
        let forced = try await fixture.run(["release", "--force", "--yes"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(forced.stdout == "no lock is held\n")
        let owned = try await fixture.run(["release", "--owner", "web-1:1:1111"])
        #expect(owned.status == 0)
        #expect(owned.stdout == "no lock is held\n")
    }

    @Test("release refuses a holder that took the lock just now; --even-if-live releases it")
    func releaseRefusesLiveHolder() async throws {
        let fixture = try OperatorFixture()
        let holder = "web-5:5:5555"
        try await fixture.redis.send("SET", .init(fixture.keys.lock), .init(holder), "PX", "60000")
        try await fixture.redis.send("SET", .init(fixture.keys.lastRefreshTime), .init(try await fixture.serverTime()))

        let owned = try await fixture.run(["release", "--owner", holder])
        Self.expectOneLineError(owned, exitCode: 3)
        for reason in ["not releasing", "seen alive", "same refresh token", "--even-if-live", holder] {
            #expect(owned.stderr.contains(reason), "\(owned.stderr)")
        }
        let forced = try await fixture.run(["release", "--force", "--yes"])
        // The holder is shown, then the refusal; nobody is asked.
        Self.expectOneLineError(forced, lines: 2, exitCode: 3)
        #expect(forced.stderr.contains("held by \(holder)"))
        let json = try await fixture.run(["release", "--owner", holder, "--json"])
        #expect(json.status == 3)
        let object = try Self.jsonObject(json.stdout)
        #expect(object["outcome"] as? String == "holder_live")
        #expect(object["released"] as? Bool == false)
        #expect(try await fixture.lockHolder() == holder)

        let released = try await fixture.run(["release", "--owner", holder, "--even-if-live"])
        #expect(released.status == 0, "\(released.stderr)")
        #expect(released.stdout == "released lock held by \(holder)\n")
        #expect(try await fixture.lockHolder() == nil)

        try await fixture.redis.send("SET", .init(fixture.keys.lock), .init(holder), "PX", "60000")
        let forcedAnyway = try await fixture.run(["release", "--force", "--yes", "--even-if-live"])
        #expect(forcedAnyway.status == 0, "\(forcedAnyway.stderr)")
        #expect(try await fixture.lockHolder() == nil)
    }

    @Test("release of a holder last seen long ago (old last_refresh_time, no heartbeat) works as before")
    func releaseOldHolder() async throws {
        let fixture = try OperatorFixture()
        let holder = "web-6:6:6666"
        try await fixture.redis.send("SET", .init(fixture.keys.lock), .init(holder), "PX", "60000")
        let old = try await fixture.serverTime() - 120_000
        try await fixture.redis.send("SET", .init(fixture.keys.lastRefreshTime), .init(old))
        let owned = try await fixture.run(["release", "--owner", holder])
        #expect(owned.status == 0, "\(owned.stderr)")
        #expect(owned.stdout == "released lock held by \(holder)\n")
        #expect(try await fixture.lockHolder() == nil)

        try await fixture.redis.send("SET", .init(fixture.keys.lock), .init(holder), "PX", "60000")
        let forced = try await fixture.run(["release", "--force", "--yes"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(try await fixture.lockHolder() == nil)
    }

    @Test("release: the holder's own heartbeat counts, another owner's attempt does not; --live-window sets the window")
    func releaseHeartbeatAndWindow() async throws {
        let fixture = try OperatorFixture()
        let holder = "web-7:7:7777"
        let now = try await fixture.serverTime()
        try await fixture.redis.send("SET", .init(fixture.keys.lock), .init(holder), "PX", "60000")
        try await fixture.redis.send("SET", .init(fixture.keys.lastRefreshTime), .init(now - 300_000))
        // The holder presents the refresh token and extended its lock 10 s ago.
        try await fixture.redis.send(
            "HSET", .init(fixture.keys.sessionHash), "attempt_by", .init(holder), "attempt_at", .init(now - 290_000),
            "attempt_heartbeat", .init(now - 10_000))
        let live = try await fixture.run(["release", "--owner", holder])
        Self.expectOneLineError(live, exitCode: 3)
        #expect(live.stderr.contains(/seen alive 1[0-9] s ago/), "\(live.stderr)")
        let status = try await fixture.run(["status"])
        #expect(Self.rows(status.stdout)["holder seen"]?.hasSuffix(" s ago") == true, "\(status.stdout)")
        let statusJSON = try Self.jsonObject(try await fixture.run(["status", "--json"]).stdout)
        let lock = try #require(statusJSON["lock"] as? [String: Any])
        #expect(lock["last_seen_ms"] as? Int == Int(now - 10_000))
        #expect((lock["last_seen_ago_ms"] as? Int ?? 0) >= 10_000)

        // Seen 10 s ago is not alive within a 5 s window.
        let narrow = try await fixture.run(["release", "--owner", holder, "--live-window", "5"])
        #expect(narrow.status == 0, "\(narrow.stderr)")
        #expect(try await fixture.lockHolder() == nil)

        // The heartbeat of an earlier holder says nothing about this one.
        try await fixture.redis.send("SET", .init(fixture.keys.lock), .init("web-8:8:8888"), "PX", "60000")
        let other = try await fixture.run(["release", "--owner", "web-8:8:8888"])
        #expect(other.status == 0, "\(other.stderr)")
        #expect(try await fixture.lockHolder() == nil)
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
        let seen = try #require(Self.rows(result.stdout)["holder seen"], "\(result.stdout)")
        if recorded {
            // 2.1 s plus the time the command took to start.
            let seconds = seen.hasSuffix(" s ago") ? Double(seen.dropLast(" s ago".count)) : nil
            #expect(seconds.map { $0 >= 2.1 && $0 < 10 } == true, "\(seen)")
        } else {
            #expect(seen == "unknown")
        }
    }

    @Test("release --live-window must be a positive number of seconds", arguments: ["0", "-1", "nan", "100000"])
    func releaseBadLiveWindow(_ window: String) async throws {
        let fixture = try OperatorFixture()
        let result = try await fixture.run(["release", "--owner", "o", "--live-window", window])
        Self.expectOneLineError(result)
        #expect(result.stderr.contains("--live-window"), "\(result.stderr)")
    }

    /// `script` runs the command on a pseudo-terminal, so `release --force` may ask.
    static let script = URL(fileURLWithPath: "/usr/bin/script")
    static var hasScript: Bool { FileManager.default.isExecutableFile(atPath: script.path) }

    /// `refresher release --force` for `fixture` on a terminal (via `script`), stdin held open for the answer.
    static func releaseOnTerminal(_ fixture: OperatorFixture) async throws -> CLIProcess {
        let command = ([CLI.executable.path] + fixture.arguments(["release", "--force"])).joined(separator: " ")
        return try await CLIProcess(["-qec", command, "/dev/null"], executable: script, holdingInput: true)
    }

    @Test("release --force on a terminal asks: n keeps the lock, y releases it", .enabled(if: hasScript))
    func releaseForceAsks() async throws {
        let fixture = try OperatorFixture()
        try await fixture.redis.send("SET", .init(fixture.keys.lock), "web-2:2:2222", "PX", "60000")
        for (answer, released) in [("n", false), ("y", true)] {
            let release = try await Self.releaseOnTerminal(fixture)
            defer { release.kill() }
            try await waitUntil(timeout: .seconds(20), "release asks") {
                release.stdout.contains("Release the lock held by web-2:2:2222? [y/N]")
            }
            release.write(answer + "\n")
            release.closeInput()
            #expect(try await release.waitForExit() == (released ? 0 : 1), "\(release.stdout)")
            #expect(try await fixture.lockHolder() == (released ? nil : "web-2:2:2222"))
            #expect(release.stdout.contains(released ? "released lock held by web-2:2:2222" : "not confirmed"))
        }
    }

    @Test("release --force never deletes a lock that changed hands while it asked: exit 2", .enabled(if: hasScript))
    func releaseForceChangedHands() async throws {
        let fixture = try OperatorFixture()
        try await fixture.redis.send("SET", .init(fixture.keys.lock), "web-3:3:3333", "PX", "60000")
        let release = try await Self.releaseOnTerminal(fixture)
        defer { release.kill() }
        try await waitUntil(timeout: .seconds(20), "release asks") { release.stdout.contains("[y/N]") }
        // The shown holder's lock expires and another worker takes it before the operator answers.
        try await fixture.redis.send("SET", .init(fixture.keys.lock), "web-4:4:4444", "PX", "60000")
        release.write("y\n")
        release.closeInput()
        #expect(try await release.waitForExit() == 2, "\(release.stdout)")
        #expect(release.stdout.contains("not released: the lock is held by web-4:4:4444"))
        #expect(try await fixture.lockHolder() == "web-4:4:4444")
    }

    // MARK: session put

    @Test("session put from stdin stores the next generation; prints fingerprints, never tokens")
    func sessionPutStdin() async throws {
        let fixture = try OperatorFixture()
        let input =
            #"{"access_token": "\#(fixture.accessToken)", "refresh_token": "\#(fixture.refreshToken)", "#
            + #""expires_in": 3600, "token_type": "Bearer"}"#
        let before = UnixTime.nowMilliseconds
        let result = try await fixture.run(["session", "put"], stdin: input)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(
            result.stdout == "stored generation 1 for session \(fixture.name) (access "
                + "\(TokenFingerprint.of(fixture.accessToken)), refresh \(TokenFingerprint.of(fixture.refreshToken)))\n"
        )
        fixture.expectNoTokens(in: result)
        #expect(try await fixture.field("access_token") == fixture.accessToken)
        #expect(try await fixture.field("refresh_token") == fixture.refreshToken)
        #expect(try await fixture.field("generation") == "1")
        let expiresAt = try #require(Int64(try await fixture.field("expires_at") ?? ""))
        #expect(expiresAt >= before + 3_600_000 && expiresAt <= UnixTime.nowMilliseconds + 3_600_000)

        // A second put is the next generation and clears a rejection.
        try await fixture.redis.send(
            "HSET", .init(fixture.keys.sessionHash), "rejected_generation", "1", "rejected_reason", "invalid_grant")
        let again = try await fixture.run(["session", "put", "--json"], stdin: input)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try Self.jsonObject(again.stdout)["generation"] as? Int == 2)
        #expect(try await fixture.field("generation") == "2")
        #expect(try await fixture.field("rejected_reason") == nil)
    }

    @Test("session put --file with expires_at")
    func sessionPutFile() async throws {
        let fixture = try OperatorFixture()
        try await fixture.storeSession(expiresIn: .seconds(10))
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("session-\(fixture.name).json")
        defer { try? FileManager.default.removeItem(at: file) }
        let expiresAt = UnixTime.nowMilliseconds + 900_000
        let json =
            #"{"access_token": "file-access-\#(fixture.name)", "refresh_token": "file-refresh-\#(fixture.name)", "#
            + #""expires_at": \#(expiresAt)}"#
        try Data(json.utf8).write(to: file)
        let result = try await fixture.run(["session", "put", "--file", file.path, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try Self.jsonObject(result.stdout)
        #expect(object["generation"] as? Int == 2)
        #expect(object["expires_at_ms"] as? Int == Int(expiresAt))
        #expect(object["access_token_fingerprint"] as? String == TokenFingerprint.of("file-access-\(fixture.name)"))
        #expect(!result.stdout.contains("file-access") && !result.stdout.contains("file-refresh"))
        #expect(try await fixture.field("generation") == "2")
        #expect(try await fixture.field("access_token") == "file-access-\(fixture.name)")
        #expect(try await fixture.field("refresh_token") == "file-refresh-\(fixture.name)")
        #expect(try await fixture.field("expires_at") == String(expiresAt))
    }

    @Test(
        "session put refuses bad input with one line, stores nothing and never echoes a token",
        arguments: [
            (#"{"access_token": "secret-a1", "refresh_token": "#, "not valid JSON"),
            (#"{"access_token": "", "refresh_token": "secret-r1", "expires_in": 60}"#, "access_token"),
            (#"{"access_token": "secret-a1", "expires_in": 60}"#, "refresh_token"),
            (#"{"access_token": 5, "refresh_token": "secret-r1"}"#, "access_token must be a string"),
            (#"["secret-a1", "secret-r1"]"#, "must be an object"),
            (#"{"access_token": "secret-a1", "refresh_token": "secret-r1", "expires_at": 1700000000}"#, "milliseconds"),
            (#"{"access_token": "secret-a1", "refresh_token": "secret-r1", "expires_in": -5}"#, "expires_in"),
            (
                #"{"access_token": "secret-a1", "refresh_token": "secret-r1", "expires_in": 5, "expires_at": 1}"#,
                "either"
            ),
            ("", "no input"),
        ])
    func sessionPutBadInput(_ input: String, _ expected: String) async throws {
        let fixture = try OperatorFixture()
        let result = try await fixture.run(["session", "put"], stdin: input)
        Self.expectOneLineError(result)
        #expect(result.stderr.contains(expected), "\(result.stderr)")
        #expect(!result.stderr.contains("secret-"), "\(result.stderr)")
        #expect(try await fixture.field("generation") == nil)
    }

    @Test("session put --file with a missing file is one line")
    func sessionPutMissingFile() async throws {
        let fixture = try OperatorFixture()
        let result = try await fixture.run(["session", "put", "--file", "/nonexistent/\(fixture.name).json"])
        Self.expectOneLineError(result)
        #expect(result.stderr.contains("cannot read"))
    }

    // MARK: bad input

    @Test(
        "Bad arguments, URLs and session names: one line on stderr, non-zero exit, no trace",
        arguments: [
            ["status", "--bogus"],
            ["watch", "--count", "0"],
            ["status", "--redis-url", "http://127.0.0.1:6379"],
            ["status", "--redis-url", "redis://127.0.0.1:99999"],
            ["status", "--session", "a{b}"],
            ["status", "--session", "a*"],
            ["status", "--session", "a b"],
            ["status", "--session", ""],
            ["watch", "--session", "a{b}"],
            ["release", "--session", "x}", "--force", "--yes"],
            ["session", "put", "--session", "a{b}"],
            ["status", "--prefix", "p{x}"],
            ["release", "--owner", "o", "--force"],
        ])
    func badInput(_ arguments: [String]) async throws {
        let session = arguments.contains("--session") ? [] : ["--session", "cli-bad"]
        let url = arguments.contains("--redis-url") ? [] : ["--redis-url", TestRedis.url]
        let result = try await CLIProcess.run(
            arguments + session + url, stdin: #"{"access_token":"a","refresh_token":"r"}"#)
        Self.expectOneLineError(result)
        if arguments.contains("a{b}") {
            // Refused before any key was touched.
            let keys = try await RedisConnection(url: TestRedis.url).send("KEYS", "refresher:{a{b}}*")
            #expect(keys.array?.isEmpty == true)
        }
    }

    @Test(
        "Unreachable Redis or a wrong password: one line naming the server, exit 1",
        arguments: [
            ["status"], ["watch"], ["release", "--force", "--yes"], ["release", "--owner", "o"], ["session", "put"],
        ],
        ["closed port", "wrong password"])
    func unreachableRedis(_ command: [String], _ problem: String) async throws {
        // The test server has no password: AUTH with one is refused like a wrong one.
        let url =
            problem == "closed port"
            ? "redis://127.0.0.1:1"
            : TestRedis.url.replacingOccurrences(of: "redis://", with: "redis://:wrong-password-123@")
        let result = try await CLIProcess.run(
            command + ["--session", "cli-unreachable", "--redis-url", url],
            stdin: #"{"access_token":"a","refresh_token":"r"}"#, timeout: .seconds(30))
        Self.expectOneLineError(result, exitCode: 1)
        let expected = problem == "closed port" ? "Redis unavailable" : "Redis refused the credentials"
        #expect(result.stderr.contains(expected), "\(result.stderr)")
        #expect(result.stderr.contains("127.0.0.1"), "names the server: \(result.stderr)")
        #expect(!result.stderr.contains("wrong-password-123"))
    }

    @Test("A missing session name is one line", .enabled(if: ProcessInfo.processInfo.environment["SESSION"] == nil))
    func missingSession() async throws {
        for command in [["status"], ["watch"], ["release", "--force", "--yes"]] {
            let result = try await CLIProcess.run(command + ["--redis-url", TestRedis.url], removing: ["SESSION"])
            Self.expectOneLineError(result, exitCode: 1)
            #expect(result.stderr.contains("--session"))
        }
    }

    // MARK: helpers

    /// Asserts a failed run that explains itself in `lines` stderr lines (the last one the error), without a crash.
    static func expectOneLineError(
        _ result: CLI.Result, lines: Int = 1, exitCode: Int32? = nil, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(result.status != 0, "exit 0; stdout: \(result.stdout)", sourceLocation: sourceLocation)
        if let exitCode { #expect(result.status == exitCode, sourceLocation: sourceLocation) }
        let stderr = result.stderr.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(stderr.count == lines, "stderr: \(result.stderr)", sourceLocation: sourceLocation)
        #expect(
            stderr.last?.hasPrefix("refresher: error: ") == true, "stderr: \(result.stderr)",
            sourceLocation: sourceLocation)
        for crash in ["Fatal error", "backtrace", "Stack dump", "Crash", "Usage:"] {
            #expect(!result.stderr.contains(crash), "stderr: \(result.stderr)", sourceLocation: sourceLocation)
        }
        #expect(result.stdout.isEmpty, "stdout: \(result.stdout)", sourceLocation: sourceLocation)
    }

    /// `key  value` lines as a dictionary.
    static func rows(_ output: String) -> [String: String] {
        var rows: [String: String] = [:]
        for line in output.split(separator: "\n") {
            guard let gap = line.firstRange(of: "  ") else { continue }
            rows[String(line[..<gap.lowerBound])] = String(line[gap.upperBound...].drop { $0 == " " })
        }
        return rows
    }

    static func jsonObject(_ text: String) throws -> [String: Any] {
        try #require(
            try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not a JSON object: \(text)")
    }
}

/// One test's session: a unique name, its keys, a connection to set up and inspect state, recognizable tokens.
struct OperatorFixture {
    let url: String
    let name: String
    let keys: SessionKeys
    let redis: RedisConnection
    let admin: SessionAdmin
    let accessToken: String
    let refreshToken: String

    init(url: String = TestRedis.url) throws {
        self.url = url
        name = "cli-\(UUID().uuidString.prefix(8))"
        keys = SessionKeys(session: try SessionName(name))
        redis = try RedisConnection(url: url)
        admin = SessionAdmin(connection: redis, keys: keys)
        accessToken = "access-secret-\(UUID().uuidString)"
        refreshToken = "refresh-secret-\(UUID().uuidString)"
    }

    func arguments(_ command: [String]) -> [String] { command + ["--session", name, "--redis-url", url] }

    func run(_ command: [String], stdin: String? = nil) async throws -> CLI.Result {
        try await CLIProcess.run(arguments(command), stdin: stdin)
    }

    func storeSession(expiresIn: Duration) async throws {
        _ = try await admin.putSession(
            RefreshedTokens(accessToken: accessToken, refreshToken: refreshToken, expiresIn: expiresIn))
    }

    func storeSession(expiresAtMilliseconds: Int64) async throws {
        _ = try await admin.putSession(
            RefreshedTokens(
                accessToken: accessToken, refreshToken: refreshToken, expiresAtMilliseconds: expiresAtMilliseconds))
    }

    /// The Redis server's clock, ms since the epoch.
    func serverTime() async throws -> Int64 {
        let time = try await redis.send("TIME").array ?? []
        return (time.first?.int ?? 0) * 1000 + (time.dropFirst().first?.int ?? 0) / 1000
    }

    func lockHolder() async throws -> String? {
        try await redis.send("GET", .init(keys.lock)).string
    }

    func field(_ name: String) async throws -> String? {
        try await redis.send("HGET", .init(keys.sessionHash), .init(name)).string
    }

    func expectNoTokens(in result: CLI.Result, sourceLocation: SourceLocation = #_sourceLocation) {
        for token in [accessToken, refreshToken] {
            #expect(!result.stdout.contains(token) && !result.stderr.contains(token), sourceLocation: sourceLocation)
        }
    }
}
