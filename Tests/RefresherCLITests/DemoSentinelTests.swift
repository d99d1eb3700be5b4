import Foundation
import RedisTestSupport
import Testing

/// `refresher demo --topology sentinel`: the fleet on an embedded Sentinel topology that the demo fails over itself.
@Suite("refresher demo --topology sentinel", .serialized)
struct DemoSentinelTests {
    /// A short run: the failover at half of 8 s, token expiries every 3 s, so that one falls after it.
    static let shortRun = [
        "demo", "--topology", "sentinel", "--processes", "3", "--tasks", "4", "--duration", "8", "--token-ttl", "3",
        "--latency-ms", "50",
    ]

    @Test("forced failover: PASS, one refresh per expiry, no reuse, a new primary on another port; topology stopped")
    func forcedFailover() async throws {
        let result = try await CLI.run(Self.shortRun + ["--json"], timeout: .seconds(180))
        #expect(result.status == 0, "stdout: \(result.stdout)\nstderr: \(result.stderr)")
        let report = try #require(
            try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
            "\(result.stdout)"
        )
        let refreshes = report["refreshes"] as? Int ?? -1
        #expect(refreshes >= 2)
        #expect(refreshes == report["tokenExpiries"] as? Int)
        #expect(report["reuseEvents"] as? Int == 0)
        #expect(report["loggedOut"] as? Bool == false)
        #expect(report["passed"] as? Bool == true)
        #expect(report["topology"] as? String == "sentinel")
        // Two servers' counters across a failover: not reported.
        #expect(report["redisCommands"] == nil)
        #expect((report["longestStallMs"] as? Int ?? -1) > 0)

        let failover = try #require(report["failover"] as? [String: Any], "\(result.stdout)")
        #expect(failover["kind"] as? String == "forced")
        #expect(failover["failure"] == nil)
        let old = try #require(failover["oldPrimaryPort"] as? Int)
        let new = try #require(failover["newPrimaryPort"] as? Int)
        #expect(old != new)
        #expect((failover["secondsToNewPrimary"] as? Double ?? 0) > 0)
        let at = failover["atSeconds"] as? Double ?? -1
        #expect(at >= 3.5 && at < 8)
        // The sentinels made the old primary a replica of the new one.
        #expect((failover["oldPrimaryReplicaAtSeconds"] as? Double ?? 0) > at)
        #expect((failover["requestsServedBefore"] as? Int ?? 0) > 0)
        #expect((failover["requestsServedAfter"] as? Int ?? 0) > 0)
        // The interesting case: a token expired after the failover began, and it cost one refresh.
        let expiriesSince = failover["tokenExpiriesSince"] as? Int ?? -1
        #expect(expiriesSince >= 1)
        #expect(failover["refreshesSince"] as? Int == expiriesSince)
        #expect(failover["errorsDuring"] is [String: Int])

        // The demo stopped its topology.
        #expect(!RedisServerProcess.answersPing(port: old))
        #expect(!RedisServerProcess.answersPing(port: new))
    }

    @Test("kill -9 of the primary, in text: the progress shows the failover, the summary what the fleet saw")
    func killFailover() async throws {
        let result = try await CLI.run(Self.shortRun + ["--failover-kind", "kill"], timeout: .seconds(180))
        #expect(result.status == 0, "stdout: \(result.stdout)\nstderr: \(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        // In this order: the kill, the new primary, the restart, the old primary a replica again.
        let announced = [
            "failover: killed the primary on port", "failover: new primary on port",
            "failover: restarted the old primary on port", "failover: the sentinels made the old primary on port",
        ].map { text in lines.firstIndex { $0.contains(text) } }
        #expect(announced.allSatisfy { $0 != nil }, "\(result.stdout)")
        let positions = announced.compactMap { $0 }
        #expect(positions == positions.sorted())
        for label in [
            "longest stall", "failover", "new primary", "old primary a replica", "requests served", "errors during",
            "since it began", "refresh-token reuse       0",
        ] {
            #expect(lines.contains { $0.hasPrefix("  ") && $0.contains(label) }, "no \(label) in \(result.stdout)")
        }
        #expect(result.stdout.contains("Redis commands used       n/a"))
        #expect(result.stdout.contains("result: PASS"))
    }

    @Test(
        "bad combinations are refused before anything starts",
        arguments: [
            (["--topology", "sentinel", "--redis-url", "redis://127.0.0.1:7399"], "--redis-url does not apply"),
            (["--topology", "sentinel", "--tls"], "--tls does not apply"),
            (["--topology", "sentinel", "--embedded-redis"], "--embedded-redis does not apply"),
            (["--failover-at", "3"], "need --topology sentinel"),
            (["--failover-kind", "kill"], "need --topology sentinel"),
            (["--topology", "sentinel", "--duration", "8", "--failover-at", "8"], "--failover-at must be"),
            (["--topology", "sentinel", "--failover-at", "soon"], "--failover-at"),
            (["--topology", "sentinel", "--failover-kind", "reboot"], "--failover-kind"),
            (["--topology", "mesh"], "--topology"),
        ]
    )
    func validation(arguments: [String], expected: String) async throws {
        let result = try await CLI.run(["demo"] + arguments, timeout: .seconds(30))
        #expect(result.status != 0)
        #expect(result.stderr.contains(expected), "stderr: \(result.stderr)")
        #expect(!result.stdout.contains("starting a Sentinel topology"))
        #expect(!result.stderr.contains("Fatal error"))
    }
}
