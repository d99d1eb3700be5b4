import Foundation
import RedisTestSupport
import Testing

/// `refresher demo --topology cluster`: several sessions on an embedded 3-primary cluster, with a failover of the
/// first session's shard and a move of its slot during the run.
@Suite("refresher demo --topology cluster", .serialized)
struct DemoClusterTests {
    /// A short run: 4 sessions over the 3 shards, token expiries every 3 s, the failover at 2 s and the slot move at
    /// 5 s, so that an expiry of the first session falls after each.
    static let shortRun = [
        "demo", "--topology", "cluster", "--processes", "2", "--tasks", "2", "--sessions", "4", "--duration", "8",
        "--token-ttl", "3", "--latency-ms", "50", "--failover-at", "2", "--migrate-at", "5",
    ]

    @Test("Every session refreshed once per expiry, no reuse, through a failover and a slot move; cluster stopped")
    func multiSessionFleet() async throws {
        let result = try await CLI.run(Self.shortRun + ["--json"], timeout: .seconds(180))
        #expect(result.status == 0, "stdout: \(result.stdout)\nstderr: \(result.stderr)")
        let report = try OperatorFixture.jsonObject(result.stdout)
        #expect(report["topology"] as? String == "cluster")
        #expect(report["passed"] as? Bool == true)
        #expect(report["reuseEvents"] as? Int == 0)
        #expect(report["loggedOut"] as? Bool == false)
        #expect(report["redisCommands"] == nil)

        let sessions = try #require(report["sessions"] as? [[String: Any]], "\(result.stdout)")
        try #require(sessions.count == 4)
        for session in sessions {
            let name = session["name"] as? String ?? "?"
            let refreshes = session["refreshes"] as? Int ?? -1
            #expect(refreshes > 0, "\(name)")
            #expect(refreshes == session["tokenExpiries"] as? Int, "\(name)")
            #expect(session["reuseEvents"] as? Int == 0, "\(name)")
            #expect(session["loggedOut"] as? Bool == false, "\(name)")
            #expect((session["requestsServed"] as? Int ?? 0) > 0, "\(name)")
        }
        // Spread over every shard.
        #expect(Set(sessions.compactMap { $0["primaryPortAtStart"] as? Int }).count == 3, "\(sessions)")

        let events = try #require(report["clusterEvents"] as? [[String: Any]], "\(result.stdout)")
        try #require(events.count == 2)
        let (failover, move) = (events[0], events[1])
        #expect(failover["kind"] as? String == "failover")
        #expect(move["kind"] as? String == "migration")
        for event in events {
            #expect(event["completed"] as? Bool == true, "\(event)")
            #expect(event["slot"] as? Int == sessions[0]["slot"] as? Int)
            #expect(event["fromPort"] as? Int != event["toPort"] as? Int)
        }
        // The failover's replica served the slot until the move; the move's target serves it at the end.
        #expect(move["fromPort"] as? Int == failover["toPort"] as? Int)
        #expect(sessions[0]["primaryPortAtEnd"] as? Int == move["toPort"] as? Int)
        #expect((move["requestsServedAfter"] as? Int ?? 0) > 0)

        // The demo stopped its cluster.
        for port in events.flatMap({ [$0["fromPort"], $0["toPort"]] }).compactMap({ $0 as? Int }) {
            #expect(!RedisServerProcess.answersPing(port: port), "\(port)")
        }
    }

    @Test(
        "bad combinations are refused before anything starts",
        arguments: [
            (["--topology", "cluster", "--redis-url", "redis://127.0.0.1:7399"], "--redis-url does not apply"),
            (["--topology", "cluster", "--tls"], "--tls does not apply"),
            (["--sessions", "3"], "need --topology cluster"),
            (["--topology", "sentinel", "--migrate-at", "3"], "need --topology cluster"),
            (["--topology", "cluster", "--sessions", "0"], "--sessions must be"),
            (["--topology", "cluster", "--failover-kind", "pause"], "use forced or kill"),
            (["--topology", "cluster", "--cluster-replicas", "0", "--failover-at", "2"], "replicas to promote"),
            (["--topology", "cluster", "--duration", "8", "--migrate-at", "8"], "--migrate-at must be"),
            (["--topology", "cluster", "--soak"], "--soak needs"),
        ]
    )
    func validation(arguments: [String], expected: String) async throws {
        let result = try await CLI.run(["demo"] + arguments, timeout: .seconds(30))
        #expect(result.status != 0)
        #expect(result.stderr.contains(expected), "stderr: \(result.stderr)")
        #expect(!result.stdout.contains("starting a Redis Cluster"))
        #expect(!result.stderr.contains("Fatal error"))
    }
}
