import DemoIdentityProvider
import Foundation
import RedisRefresher
import RedisTestSupport
import Testing

/// The worker processes use the library's HTTP helpers end to end: `AuthorizedHTTPClient` for `/resource` and the
/// ready `OAuth2RefreshGrant` against the demo identity provider's token endpoint.
@Suite("refresher worker over HTTP", .serialized)
struct WorkerHTTPTests {
    @Test("3 worker processes refreshing ahead of expiry: one refresh, no 401, no expired token presented")
    func fleetRefreshesAhead() async throws {
        let idp = DemoIdentityProvider(
            configuration: .init(refreshLatency: .milliseconds(50), accessTokenLifetime: .seconds(8))
        )
        try await idp.withServer { server in
            let session = "cli-ahead-\(UUID().uuidString.prefix(8))"
            let redis = try RedisConnection(url: TestRedis.url)
            defer { redis.close() }
            let admin = SessionAdmin(connection: redis, keys: SessionKeys(session: try SessionName(session)))
            let login = idp.login()
            let loggedInAt = Date().timeIntervalSince1970
            let tokens = RefreshedTokens(
                accessToken: login.access_token,
                refreshToken: login.refresh_token,
                expiresIn: .seconds(login.expires_in)
            )
            _ = try await admin.putSession(tokens)
            // The token expires 8 s after the login; 2 s to 1 s ahead of that (the session's point in the spread
            // window, at about 6 s to 7 s) one worker refreshes; the next refresh would be due at 12 s at the earliest,
            // after the run (5 s to 7.7 s) is over. The 5 s before the run leave the three processes time to start on
            // a busy machine.
            let environment = [
                "REDIS_URL": TestRedis.url, "IDP_URL": server.url, "SESSION": session, "TASKS": "4",
                "START_AT": String(loggedInAt + 5), "DURATION": "2.7", "REFRESH_AHEAD_MS": "2000",
                "REQUEST_INTERVAL_MS": "40",
            ]
            async let first = CLI.run(["worker"], environment: environment, timeout: .seconds(60))
            async let second = CLI.run(["worker"], environment: environment, timeout: .seconds(60))
            async let third = CLI.run(["worker"], environment: environment, timeout: .seconds(60))
            var requests = 0
            for result in try await [first, second, third] {
                #expect(result.status == 0, "stderr: \(result.stderr)")
                let line = try #require(result.stdout.split(separator: "\n").last)
                let summary = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                #expect(summary["unauthorized"] as? Int == 0, "\(summary)")
                #expect(summary["errors"] as? Int == 0, "\(summary)")
                #expect(summary["loggedOut"] as? Bool == false)
                #expect(summary["ok"] as? Int == summary["requests"] as? Int)
                requests += summary["requests"] as? Int ?? 0
            }
            #expect(requests > 50)
            let stats = idp.stats
            #expect(stats.refreshes == 1)
            #expect(stats.reuseEvents == 0)
            #expect(stats.resource401 == 0)
            #expect(stats.expiries == 0)
            #expect(try await admin.status().generation == 2)
        }
    }

    @Test("Without refresh ahead, a worker's AuthorizedHTTPClient turns the expiry's 401s into one refresh")
    func fleetRefreshesOnUnauthorized() async throws {
        let idp = DemoIdentityProvider(
            configuration: .init(refreshLatency: .milliseconds(50), accessTokenLifetime: .seconds(60))
        )
        try await idp.withServer { server in
            let session = "cli-401-\(UUID().uuidString.prefix(8))"
            let redis = try RedisConnection(url: TestRedis.url)
            defer { redis.close() }
            let admin = SessionAdmin(connection: redis, keys: SessionKeys(session: try SessionName(session)))
            let login = idp.login()
            // The stored access token is not one the provider issued: every task's first request gets a 401.
            _ = try await admin.putSession(
                RefreshedTokens(accessToken: "stale", refreshToken: login.refresh_token, expiresIn: .seconds(60))
            )
            // The 5 s before the run leave the two processes time to start on a busy machine: one that starts after
            // the run would make no request.
            let environment = [
                "REDIS_URL": TestRedis.url, "IDP_URL": server.url, "SESSION": session, "TASKS": "4",
                "START_AT": String(Date().timeIntervalSince1970 + 5), "DURATION": "1.5", "REQUEST_INTERVAL_MS": "50",
            ]
            async let first = CLI.run(["worker"], environment: environment, timeout: .seconds(60))
            async let second = CLI.run(["worker"], environment: environment, timeout: .seconds(60))
            for result in try await [first, second] {
                #expect(result.status == 0, "stderr: \(result.stderr)")
                let line = try #require(result.stdout.split(separator: "\n").last)
                let summary = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                #expect(summary["errors"] as? Int == 0, "\(summary)")
                #expect((1...4).contains(summary["unauthorized"] as? Int ?? -1), "\(summary)")
            }
            #expect(idp.stats.refreshes == 1)
            #expect(idp.stats.reuseEvents == 0)
            #expect(try await admin.status().generation == 2)
        }
    }

    @Test("idp --sessions 2 and a worker serving both over one set of connections: each session refreshed on its own")
    func severalSessions() async throws {
        let base = "cli-multi-\(UUID().uuidString.prefix(8))"
        let names = ["\(base)-0", "\(base)-1"]
        let idp = try await CLIProcess(
            [
                "idp", "--port", "0", "--token-ttl", "3", "--latency-ms", "20", "--session", base, "--sessions", "2",
                "--redis-url", TestRedis.url,
            ]
        )
        defer { idp.kill() }
        let listening = try await idp.waitForOutput(containing: "identity provider listening on ")
        let template = try #require(listening.split(separator: " ").first { $0.hasPrefix("http://") }.map(String.init))
        #expect(template.hasSuffix("/sessions/{session}"), "\(listening)")
        let redis = try RedisConnection(url: TestRedis.url)
        defer { redis.close() }
        let admins = try names.map { SessionAdmin(connection: redis, keys: SessionKeys(session: try SessionName($0))) }
        for admin in admins { #expect(try await admin.status().generation == 1) }

        // The tokens expire 3 s after the login; the run (from 2 s to 5 s) sees each session expire once.
        let environment = [
            "REDIS_URL": TestRedis.url, "IDP_URL": template, "SESSION": names.joined(separator: ","), "TASKS": "2",
            "START_AT": String(Date().timeIntervalSince1970 + 2), "DURATION": "3", "REQUEST_INTERVAL_MS": "50",
        ]
        let result = try await CLI.run(["worker"], environment: environment, timeout: .seconds(60))
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let line = try #require(result.stdout.split(separator: "\n").last)
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(summary["errors"] as? Int == 0, "\(summary)")
        #expect(summary["loggedOut"] as? Bool == false)
        let sessions = try #require(summary["sessions"] as? [String: [String: Any]], "\(summary)")
        #expect(Set(sessions.keys) == Set(names))
        for name in names {
            #expect((sessions[name]?["ok"] as? Int ?? 0) > 0, "\(name): \(summary)")
            #expect(sessions[name]?["errors"] as? Int == 0, "\(name)")
        }
        for admin in admins { #expect(try await admin.status().generation == 2) }
        for admin in admins { try await admin.deleteStoredKeys() }
    }
}
