import DemoIdentityProvider
import Hummingbird
import RedisRefresher

/// One strict demo identity provider per session, all served by one HTTP server on loopback: session `S`'s
/// endpoints under `/sessions/S` (`/sessions/S/oauth/token`, `/sessions/S/resource`, …). Each provider rotates and
/// checks only its own session's tokens, so a token of one session presented for another is no reuse, and each
/// session's refreshes and reuse are counted apart.
struct SessionProviders: Sendable {
    /// The session names, in the order given.
    let names: [String]
    /// The provider of each session, in the order of ``names``.
    let providers: [DemoIdentityProvider]
    let server: DemoIdentityProvider.Server

    /// The identity provider URL for a worker: `{session}` stands for the session's name (see ``WorkerCommand``).
    var urlTemplate: String { server.url + "/sessions/{session}" }

    /// Starts a provider for each of `names` (access tokens living `tokenTTL` seconds, refreshes taking `latencyMs`)
    /// on `host:port` (port 0 picks a free one). With `metrics`, the metrics system is bootstrapped first and the
    /// server also answers `GET /metrics`, the providers' counters added up.
    static func start(
        names: [String],
        tokenTTL: Double,
        latencyMs: Int,
        host: String = "127.0.0.1",
        port: Int = 0,
        metrics: Bool = false
    ) async throws -> SessionProviders {
        if metrics { PrometheusMetrics.bootstrap() }
        let configuration = DemoIdentityProvider.Configuration(
            refreshLatency: .milliseconds(latencyMs),
            accessTokenLifetime: .milliseconds(Int64(tokenTTL * 1000))
        )
        let providers = names.map { _ in DemoIdentityProvider(configuration: configuration) }
        let router = Router()
        for (name, provider) in zip(names, providers) {
            provider.addRoutes(to: router.group(RouterPath("sessions/\(name)")))
        }
        if metrics { PrometheusMetrics.addRoute(to: router) }
        let server = try await DemoIdentityProvider.serve(router, host: host, port: port)
        return SessionProviders(names: names, providers: providers, server: server)
    }

    /// Each session's counters, in the order of ``names``.
    var stats: [DemoIdentityProvider.Stats] { providers.map(\.stats) }

    /// The counters of every session added up; `revoked` when any session is.
    var totals: DemoIdentityProvider.Stats { Self.total(stats) }

    /// `stats` added up; `revoked` when any is.
    static func total(_ stats: [DemoIdentityProvider.Stats]) -> DemoIdentityProvider.Stats {
        // A provider nobody used: every counter zero (the counters' own initializer is not public).
        guard var total = stats.first else { return DemoIdentityProvider().stats }
        for other in stats.dropFirst() {
            total.refreshes += other.refreshes
            total.reuseEvents += other.reuseEvents
            total.rejectedRefreshes += other.rejectedRefreshes
            total.resourceOK += other.resourceOK
            total.resource401 += other.resource401
            total.expiries += other.expiries
            total.revoked = total.revoked || other.revoked
            total.logins += other.logins
        }
        return total
    }

    /// Logs in at each session's provider and stores the session in Redis, as an operator's `session put` would.
    func storeLogins(on connection: RedisConnection, by owner: String) async throws {
        for (name, provider) in zip(names, providers) {
            let admin = SessionAdmin(connection: connection, keys: SessionKeys(session: try SessionName(name)))
            let login = provider.login()
            _ = try await admin.putSession(
                RefreshedTokens(
                    accessToken: login.access_token,
                    refreshToken: login.refresh_token,
                    expiresIn: .seconds(login.expires_in)
                ),
                by: owner
            )
        }
    }

    func stop() async {
        await server.stop()
    }
}
