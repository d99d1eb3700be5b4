import DemoIdentityProvider
import RedisRefresher

/// The demo identity provider serving over HTTP, as `demo` and `idp` start it: a strict provider with the given
/// token lifetime and refresh latency, and optionally `GET /metrics` on its own router.
struct IdentityProviderLaunch: Sendable {
    let provider: DemoIdentityProvider
    let server: DemoIdentityProvider.Server

    /// Starts the provider on `host:port` (port 0 picks a free one). With `metrics`, the metrics system is
    /// bootstrapped first, so the provider's counters are part of `/metrics`.
    static func start(
        tokenTTL: Double,
        latencyMs: Int,
        host: String = "127.0.0.1",
        port: Int = 0,
        metrics: Bool = false
    ) async throws -> IdentityProviderLaunch {
        if metrics { PrometheusMetrics.bootstrap() }
        let provider = DemoIdentityProvider(
            configuration: .init(
                refreshLatency: .milliseconds(latencyMs),
                accessTokenLifetime: .milliseconds(Int64(tokenTTL * 1000))
            )
        )
        let server = try await provider.serve(host: host, port: port) { router in
            if metrics { PrometheusMetrics.addRoute(to: router) }
        }
        return IdentityProviderLaunch(provider: provider, server: server)
    }

    /// Logs in at the provider and stores the session through `admin`, as an operator's `session put` would;
    /// `owner` names who stored it in the session's events. Returns the new generation.
    func storeLogin(in admin: SessionAdmin, by owner: String) async throws -> Int64 {
        let login = provider.login()
        return try await admin.putSession(
            RefreshedTokens(
                accessToken: login.access_token,
                refreshToken: login.refresh_token,
                expiresIn: .seconds(login.expires_in)
            ),
            by: owner
        )
    }
}
