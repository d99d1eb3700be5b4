import Foundation
import RedisTestSupport
import Testing

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
