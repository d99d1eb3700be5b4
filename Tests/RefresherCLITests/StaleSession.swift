import DemoIdentityProvider
import Foundation
import RedisRefresher
import RedisTestSupport

/// A session in Redis whose access token the provider never issued: every worker's first request is a 401 and
/// one of them refreshes.
struct StaleSession {
    let name: String
    let idp: DemoIdentityProvider
    let server: DemoIdentityProvider.Server
    let admin: SessionAdmin

    /// Serves a provider on a free loopback port, stores a stale session (named after `prefix`) logged in there,
    /// runs `body` with it, and deletes the session's keys and stops the provider whether or not `body` throws.
    static func with<T>(
        _ prefix: String,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (StaleSession) async throws -> T
    ) async throws -> T {
        let idp = DemoIdentityProvider(
            configuration: .init(refreshLatency: .milliseconds(20), accessTokenLifetime: .seconds(60))
        )
        return try await idp.withServer { server in
            let name = "\(prefix)-\(UUID().uuidString.prefix(8))"
            return try await SessionAdmin.with(session: name) { admin in
                let login = idp.login()
                _ = try await admin.putSession(
                    RefreshedTokens(accessToken: "stale", refreshToken: login.refresh_token, expiresIn: .seconds(60))
                )
                return try await body(StaleSession(name: name, idp: idp, server: server, admin: admin))
            }
        }
    }

    /// Continuous mode for longer than any test waits: the tests end the workers with SIGTERM.
    func workerEnvironment() -> [String: String] {
        [
            "REDIS_URL": TestRedis.url, "IDP_URL": server.url, "SESSION": name, "TASKS": "4",
            "START_AT": String(Date().timeIntervalSince1970 + 0.3), "DURATION": "60", "REQUEST_INTERVAL_MS": "50",
        ]
    }
}
