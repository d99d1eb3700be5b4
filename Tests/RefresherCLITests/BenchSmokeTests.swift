import Foundation
import RedisTestSupport
import Testing

@testable import refresher

/// Keeps `refresher bench` from rotting: a tiny grid, one run, correctness only (never a timing).
@Suite("refresher bench smoke test")
struct BenchSmokeTests {
    @Test("bench --grid 2x2 --runs 1 --quick: one refresh and no reuse per coordinated storm, and its pictures")
    func smoke() async throws {
        let pictures = FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: pictures) }
        let result = try await CLI.run(
            [
                "bench", "--grid", "2x2", "--runs", "1", "--quick", "--latency-ms", "20", "--json", "--pictures",
                pictures.path,
            ],
            // Without a URL, bench starts an embedded server whose statistics no other test disturbs.
            removing: ["REDIS_URL"],
            timeout: .seconds(180)
        )
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let storms = try #require(report["storms"] as? [[String: Any]])
        #expect(storms.count == 3)
        for storm in storms {
            let mode = storm["mode"] as? String ?? ""
            #expect(storm["tasksTotal"] as? Int == 4)
            guard mode != "none" else { continue }
            #expect(storm["refreshes"] as? Int == 1, "\(mode)")
            #expect(storm["reuseEvents"] as? Int == 0, "\(mode)")
            #expect(storm["tasksOK"] as? Int == 4, "\(mode)")
            #expect((storm["redisCommands"] as? Int ?? 0) > 0, "\(mode)")
        }
        let micro = try #require(report["micro"] as? [String: Any])
        #expect(micro["waitingTasks"] as? Int == 100)
        #expect((micro["credentialsReadsPerSecond"] as? Double ?? 0) > 0)
        // The embedded server serves TLS too: round trip and pipeline throughput over both wires.
        Self.expectBothWires(micro)
        // Machine facts are part of every report.
        let machine = try #require(report["machine"] as? [String: Any])
        #expect((machine["cpus"] as? Int ?? 0) >= 1)
        #expect((machine["redisSetup"] as? String ?? "").hasPrefix("embedded"))

        // The pictures: the wake-up distribution of both coordinated modes (none has no wake-ups), and a timeline
        // per coordinated mode with its 401s, its one refresh and its callers served.
        let wakeUps = try WrittenSVG(path: pictures.appendingPathComponent("wake-up-latency.svg").path)
        // A 2×2 storm can end before any task waited (each found the refresh stored): then the mode is a note.
        let drawn = ["pubsub", "poll"].filter { wakeUps.shows("\($0): p50") }
        for mode in ["pubsub", "poll"] where !drawn.contains(mode) {
            #expect(wakeUps.shows("\(mode): no task waited"), "\(mode) is neither drawn nor noted")
        }
        #expect(wakeUps.polylines == drawn.count)
        #expect(wakeUps.shows("none: no wake-ups"))
        #expect(wakeUps.shows("wake-up latency (ms, log scale)"))
        let timeline = try WrittenSVG(path: pictures.appendingPathComponent("storm-timeline.svg").path)
        #expect(timeline.polylines == 4)
        #expect(timeline.texts.filter { $0 == "401s seen" }.count == 2)
        #expect(timeline.texts.filter { $0 == "callers served" }.count == 2)
        #expect(timeline.texts.filter { $0 == "refresh stored" }.count == 2)
        #expect(timeline.shows("time since the first 401 (ms)"))
    }

    @Test(
        "bench --sessions 20 --processes 2 --idle-sessions 200: one refresh per session, no reuse, every caller served"
    )
    func sessions() async throws {
        let result = try await CLI.run(
            [
                "bench", "--sessions", "20", "--processes", "2", "--session-callers", "2", "--latency-ms", "20",
                "--idle-sessions", "200", "--idle-window-s", "2", "--json",
            ],
            // An embedded server: no other test's commands in the counts.
            removing: ["REDIS_URL"],
            timeout: .seconds(120)
        )
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        // Only the sessions benchmarks ran.
        #expect((report["storms"] as? [Any])?.isEmpty == true)
        #expect(report["micro"] == nil)
        let storm = try #require((report["sessionStorms"] as? [[String: Any]])?.first)
        #expect(storm["refreshes"] as? Int == 20)
        #expect(storm["sessionsRefreshedOnce"] as? Int == 20)
        #expect(storm["refreshesByWorkers"] as? Int == 20)
        #expect(storm["reuseEvents"] as? Int == 0)
        #expect(storm["callersTotal"] as? Int == 80)
        #expect(storm["callersServed"] as? Int == 80, "errors: \(storm["errors"] ?? "none")")
        #expect((storm["stormMs"] as? Double ?? 0) > 0)
        #expect((storm["sessionStormP99Ms"] as? Double ?? 0) > 0)
        // Every session's storm runs at least one script (the check) per process.
        #expect((storm["scriptCallsPerSession"] as? Double ?? 0) >= 2)
        #expect((storm["residentKBPerSession"] as? Double) != nil)
        #expect(storm["nodes"] as? Int == 1)
        let idle = try #require(report["idleSessions"] as? [String: Any])
        #expect(idle["sessions"] as? Int == 200)
        #expect((idle["redisCommandsPerSessionPerMinute"] as? Double) != nil)
        #expect((idle["setupCommandsPerSession"] as? Double ?? 0) > 0)
        // Every session was read from memory at least once during the window.
        #expect((idle["reads"] as? Int ?? 0) >= 200)
        #expect(result.stderr.contains("sessions storm 20x2x2: refreshes=20"), "\(result.stderr)")
    }

    @Test("the command counter's nodes: a cluster URL's seeds, the primaries of CLUSTER NODES")
    func clusterNodes() {
        #expect(RedisCommandCounter.clusterSeedURLs("redis://127.0.0.1:6379") == nil)
        #expect(
            RedisCommandCounter.clusterSeedURLs("redis-cluster://u:p%40ss@10.0.0.1:7000,10.0.0.2:7001/0?x=1")
                == ["redis://u:p%40ss@10.0.0.1:7000?x=1", "redis://u:p%40ss@10.0.0.2:7001?x=1"]
        )
        #expect(RedisCommandCounter.clusterSeedURLs("rediss-cluster://h:1") == ["rediss://h:1"])
        let nodes = """
            07c3 127.0.0.1:30004@31004 slave e7d1 0 1426238317239 4 connected
            67ed 127.0.0.1:30002@31002,host-b master - 0 1426238316232 2 connected 5461-10922
            292f 127.0.0.1:30003@31003 myself,master - 0 0 3 connected 10923-16383
            e7d1 127.0.0.1:30001@31001 master,fail - 0 1426238316232 1 disconnected 0-5460
            """
        #expect(RedisCommandCounter.primaryAddresses(inClusterNodes: nodes) == ["127.0.0.1:30002", "127.0.0.1:30003"])
        #expect(
            RedisCommandCounter.replacingAddress(of: "rediss://u:p@seed:1?ca_file=/x", with: "10.0.0.9:7002")
                == "rediss://u:p@10.0.0.9:7002?ca_file=/x"
        )
    }

    @Test("bench --redis-url redis://… --tls-redis-url rediss://…: both wires of a given server")
    func givenTLSServer() async throws {
        try await withRedisServer(try await RedisServerProcess.tlsArguments()) { server in
            let result = try await CLI.run(
                [
                    "bench", "--only-micro", "--quick", "--json", "--redis-url", server.url, "--tls-redis-url",
                    try #require(server.tlsURL),
                ],
                timeout: .seconds(120)
            )
            #expect(result.status == 0, "stderr: \(result.stderr)")
            let report = try #require(
                try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
            )
            Self.expectBothWires(try #require(report["micro"] as? [String: Any]))
        }
    }

    static func expectBothWires(_ micro: [String: Any], sourceLocation: SourceLocation = #_sourceLocation) {
        let wires = micro["wires"] as? [[String: Any]] ?? []
        #expect(wires.map { $0["wire"] as? String } == ["plain", "TLS"], sourceLocation: sourceLocation)
        for wire in wires {
            #expect((wire["getRoundTripP50Us"] as? Double ?? 0) > 0, sourceLocation: sourceLocation)
            #expect((wire["pipelinedCommandsPerSecond"] as? Double ?? 0) > 0, sourceLocation: sourceLocation)
        }
    }

    @Test("bench honours REDIS_URL: with nothing listening there it fails, naming no embedded server")
    func honoursRedisURL() async throws {
        let result = try await CLI.run(
            ["bench", "--only-micro", "--quick"],
            environment: ["REDIS_URL": "redis://127.0.0.1:1"],
            timeout: .seconds(60)
        )
        #expect(result.status == 1, "stdout: \(result.stdout) stderr: \(result.stderr)")
        #expect(result.stdout.contains("given server redis://127.0.0.1:1"), "\(result.stdout)")
        #expect(result.stderr.hasPrefix("refresher: error: "), "\(result.stderr)")
    }
}
