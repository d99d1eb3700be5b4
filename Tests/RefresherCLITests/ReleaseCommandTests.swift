import Foundation
import RedisRefresher
import RedisTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `refresher release`, run as the built executable against the test Redis. Each test uses a session of its own.
@Suite("refresher release")
struct ReleaseCommandTests {
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
        let object = try OperatorFixture.jsonObject(json.stdout)
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
        OperatorFixture.expectOneLineError(noOwner)
        #expect(noOwner.stderr.contains("--owner"))
        // stdin is a pipe, not a terminal: even a "y" on it is no confirmation.
        let unconfirmed = try await fixture.run(["release", "--force"], stdin: "y\n")
        OperatorFixture.expectOneLineError(unconfirmed, lines: 2)
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
        let object = try OperatorFixture.jsonObject(result.stdout)
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
        OperatorFixture.expectOneLineError(owned, exitCode: 3)
        for reason in ["not releasing", "seen alive", "same refresh token", "--even-if-live", holder] {
            #expect(owned.stderr.contains(reason), "\(owned.stderr)")
        }
        let forced = try await fixture.run(["release", "--force", "--yes"])
        // The holder is shown, then the refusal; nobody is asked.
        OperatorFixture.expectOneLineError(forced, lines: 2, exitCode: 3)
        #expect(forced.stderr.contains("held by \(holder)"))
        let json = try await fixture.run(["release", "--owner", holder, "--json"])
        #expect(json.status == 3)
        let object = try OperatorFixture.jsonObject(json.stdout)
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
            "HSET",
            .init(fixture.keys.sessionHash),
            "attempt_by",
            .init(holder),
            "attempt_at",
            .init(now - 290_000),
            "attempt_heartbeat",
            .init(now - 10_000)
        )
        let live = try await fixture.run(["release", "--owner", holder])
        OperatorFixture.expectOneLineError(live, exitCode: 3)
        #expect(live.stderr.contains(/seen alive 1[0-9] s ago/), "\(live.stderr)")
        let status = try await fixture.run(["status"])
        #expect(OperatorFixture.rows(status.stdout)["holder seen"]?.hasSuffix(" s ago") == true, "\(status.stdout)")
        let statusJSON = try OperatorFixture.jsonObject(try await fixture.run(["status", "--json"]).stdout)
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

    @Test("release --live-window must be a positive number of seconds", arguments: ["0", "-1", "nan", "100000"])
    func releaseBadLiveWindow(_ window: String) async throws {
        let fixture = try OperatorFixture()
        let result = try await fixture.run(["release", "--owner", "o", "--live-window", window])
        OperatorFixture.expectOneLineError(result)
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
}
