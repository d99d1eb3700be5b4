import DemoIdentityProvider
import Foundation
import RedisRefresher
import RedisTestSupport
import Testing

@Suite("refresher demo and worker", .serialized)
struct DemoCommandTests {
    @Test("demo: refreshes equal expiries, no reuse, exit 0; --timeline draws the run")
    func demoPasses() async throws {
        let timeline = FileManager.default.temporaryDirectory.appendingPathComponent("demo-\(UUID().uuidString).svg")
        defer { try? FileManager.default.removeItem(at: timeline) }
        let result = try await CLI.run(
            [
                "demo", "--processes", "3", "--tasks", "4", "--duration", "5", "--token-ttl", "2", "--latency-ms", "50",
                "--json", "--timeline", timeline.path,
            ],
            environment: ["REDIS_URL": TestRedis.url],
            timeout: .seconds(120)
        )
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let report = try #require(
            try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
            "\(result.stdout)"
        )
        let refreshes = report["refreshes"] as? Int ?? -1
        let expiries = report["tokenExpiries"] as? Int ?? -2
        #expect(refreshes >= 1)
        #expect(refreshes == expiries)
        #expect(report["reuseEvents"] as? Int == 0)
        #expect(report["loggedOut"] as? Bool == false)
        #expect(report["passed"] as? Bool == true)
        #expect((report["requestsServed"] as? Int ?? 0) > 0)
        let picture = try WrittenSVG(path: timeline.path)
        #expect(picture.polylines == 2)
        #expect(picture.shows("requests served") && picture.shows("401s seen"))
        #expect(picture.texts.contains("\(refreshes) refresh(es)"))
    }

    @Test("demo --coordination none: the storm logs the fleet out, exit non-zero")
    func demoWithoutCoordinationFails() async throws {
        let result = try await CLI.run(
            [
                "demo", "--processes", "3", "--tasks", "4", "--duration", "4", "--token-ttl", "1", "--latency-ms", "50",
                "--coordination", "none", "--json",
            ],
            environment: ["REDIS_URL": TestRedis.url],
            timeout: .seconds(120)
        )
        #expect(result.status != 0)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect((report["reuseEvents"] as? Int ?? 0) > 0)
        #expect(report["loggedOut"] as? Bool == true)
    }

    @Test("demo --embedded-redis runs on a throwaway redis-server and stops it")
    func demoEmbeddedRedis() async throws {
        let result = try await CLI.run(
            [
                "demo", "--embedded-redis", "--processes", "2", "--tasks", "2", "--duration", "3", "--token-ttl", "1",
                "--latency-ms", "20",
            ],
            environment: [:],
            removing: ["REDIS_URL"],
            timeout: .seconds(120)
        )
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("(embedded, stopped at the end)"))
        let port = try #require(
            result.stdout.split(separator: "\n").first { $0.contains("(embedded") }?
                .split(separator: ":").last?.prefix { $0.isNumber }
        )
        // The embedded server is gone.
        #expect(!RedisServerProcess.answersPing(port: Int(port) ?? 0))
        #expect(result.stdout.contains("result: PASS"))
    }

    @Test("worker: one JSON line per task; a 401 storm costs one refresh")
    func workerStorm() async throws {
        let idp = DemoIdentityProvider(
            configuration: .init(refreshLatency: .milliseconds(100), accessTokenLifetime: .seconds(60))
        )
        try await idp.withServer { server in
            let session = "cli-worker-\(UUID().uuidString.prefix(8))"
            let redis = try RedisConnection(url: TestRedis.url)
            defer { redis.close() }
            let admin = SessionAdmin(connection: redis, keys: SessionKeys(session: try SessionName(session)))
            let login = idp.login()
            // The stored access token is already stale: every task gets a 401 first.
            _ = try await admin.putSession(
                RefreshedTokens(accessToken: "stale-token", refreshToken: login.refresh_token, expiresIn: .seconds(60))
            )
            let startAt = Date().timeIntervalSince1970 + 2
            async let first = CLI.run(
                ["worker"],
                environment: [
                    "REDIS_URL": TestRedis.url, "IDP_URL": server.url, "SESSION": session, "TASKS": "8",
                    "START_AT": String(startAt), "TASK_TIMEOUT": "20",
                ]
            )
            async let second = CLI.run(
                [
                    "worker", "--redis-url", TestRedis.url, "--idp-url", server.url, "--session", session, "--tasks",
                    "8",
                    "--start-at", String(startAt), "--task-timeout", "20",
                ])
            let results = try await [first, second]
            var lines: [[String: Any]] = []
            for result in results {
                #expect(result.status == 0, "stderr: \(result.stderr)")
                for line in result.stdout.split(separator: "\n") {
                    if let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] {
                        lines.append(object)
                    }
                }
            }
            #expect(lines.count == 16)
            #expect(lines.allSatisfy { $0["ok"] as? Bool == true })
            #expect(lines.allSatisfy { ($0["t_401"] as? Double ?? 0) >= startAt - 0.01 })
            #expect(lines.allSatisfy { ($0["t_ok"] as? Double ?? 0) >= ($0["t_401"] as? Double ?? .infinity) })
            #expect(idp.stats.refreshes == 1)
            #expect(idp.stats.reuseEvents == 0)
            // No token the identity provider issued appears in anything the workers printed.
            let printed = results.map { $0.stdout + $0.stderr }.joined()
            #expect(idp.issuedTokens.count >= 4)
            for token in idp.issuedTokens { #expect(!printed.contains(token), "a token leaked into worker output") }
        }
    }

    @Test(
        "worker: bad input gives one line and a non-zero exit",
        arguments: [
            (["worker"], "identity provider"),
            (["worker", "--idp-url", "http://127.0.0.1:1", "--session", "a{b}"], "session name"),
            (
                ["worker", "--idp-url", "http://127.0.0.1:1", "--session", "ok", "--redis-url", "redis://127.0.0.1:1"],
                "Redis"
            ),
            (["worker", "--bogus"], "Unknown option"),
            (
                ["worker", "--idp-url", "http://127.0.0.1:1", "--session", "ok", "--idp-reuse-grace-ms=-5"],
                "IDP_REUSE_GRACE_MS"
            ),
        ]
    )
    func workerBadInput(arguments: [String], expected: String) async throws {
        let result = try await CLI.run(arguments, environment: [:], removing: ["IDP_URL", "SESSION", "REDIS_URL"])
        #expect(result.status != 0)
        #expect(result.stderr.contains(expected), "stderr: \(result.stderr)")
        #expect(!result.stderr.contains("Fatal error"))
    }
}
