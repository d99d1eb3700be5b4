import Foundation
import RedisRefresher
import RedisTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `refresher watch`, run as the built executable against the test Redis. Each test uses a session of its own.
@Suite("refresher watch")
struct WatchCommandTests {
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
            "PUBLISH",
            .init(fixture.keys.events),
            "refreshed generation=2 by=web-4:1:bbbb duration_ms=12"
        )

        let status = try await watch.waitForExit()
        #expect(status == 0, "\(watch.stderr)")
        let events = try watch.stdout.split(separator: "\n").map { try OperatorFixture.jsonObject(String($0)) }
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
            "PUBLISH",
            .init(fixture.keys.events),
            "failed generation=4 kind=rejected by=web-5:2:cccc reason=invalid grant"
        )
        #expect(try await watch.waitForExit() == 0, "\(watch.stderr)")
        let line = watch.stdout.trimmingCharacters(in: .newlines)
        #expect(
            line.wholeMatch(of: /\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}  failed     (.*)/)?.output.1
                == "generation=4 kind=rejected by=web-5:2:cccc reason=invalid grant (re-login required)",
            "\(line)"
        )
    }

    @Test("watch reports a gap when its subscription is lost and resumes", .timeLimit(.minutes(1)))
    func watchGap() async throws {
        // A private server: killing pub/sub connections must not disturb other tests.
        try await withRedisServer { server in
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
        }
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
}
