import AsyncHTTPClient
import Logging
import Metrics
import RedisRefresher
import RedisRefresherHTTP
import RedisTestSupport

/// The shared ``Scenario`` with the test authorization server, served over real HTTP, in place of the fake identity
/// provider; and the shared HTTP client.
struct HTTPScenario {
    /// The session on Redis.
    let base: Scenario
    let auth: TestAuthServer
    let server: TestHTTPServer

    /// `HTTPClient.shared`, which needs no shutdown: a test that fails half-way cannot leave a client behind that
    /// traps in its deinit.
    var http: HTTPClient { .shared }

    var session: String { base.session }

    /// The grant against this scenario's token endpoint.
    var grant: OAuth2RefreshGrant {
        OAuth2RefreshGrant(tokenEndpoint: server.url + "/oauth/token", requestTimeout: .seconds(5))
    }

    /// The scenario's configuration, with a short shutdown grace period.
    func configuration(
        pollInterval: Duration = .seconds(1),
        refreshAhead: Duration? = nil,
        wakeUp: RefresherConfiguration.WakeUp = .pubSub
    ) -> RefresherConfiguration {
        base.configuration(
            pollInterval: pollInterval,
            wakeUp: wakeUp,
            refreshAhead: refreshAhead,
            shutdownGracePeriod: .milliseconds(300)
        )
    }

    /// A refresher (own connections: another worker, as far as Redis can tell) using `refresh`, by default the
    /// OAuth 2.0 grant against this scenario's server.
    func refresher(
        _ configuration: RefresherConfiguration? = nil,
        logger: Logger = Scenario.quietLogger,
        metrics: (any MetricsFactory)? = nil,
        refresh: RedisRefresher.RefreshFunction? = nil
    ) async throws -> RedisRefresher {
        try await base.refresher(
            configuration ?? self.configuration(),
            logger: logger,
            metrics: metrics,
            refresh: refresh ?? grant.refreshFunction(client: http)
        )
    }

    /// Stores a fresh login from the authorization server as `refresher`'s worker would, without reading it through
    /// the refresher (no refresh ahead of expiry can start here); `accessToken` replaces the issued access token
    /// (for example with one the API does not accept, so the first request gets a 401).
    @discardableResult
    func seed(_ refresher: RedisRefresher, accessToken: String? = nil) async throws -> Credentials {
        var tokens = auth.login()
        if let accessToken { tokens.accessToken = accessToken }
        return try await base.store(tokens, by: refresher)
    }
}

/// Serves a test authorization server with `behaviour`, runs `body` with a scenario on it, and stops the server
/// whether or not `body` throws.
func withHTTPScenario<T>(
    _ behaviour: TestAuthServer.Behaviour = .init(),
    name: String = "http",
    isolation: isolated (any Actor)? = #isolation,
    _ body: (HTTPScenario) async throws -> T
) async throws -> T {
    let auth = TestAuthServer(behaviour)
    let server = try await auth.serve()
    do {
        let scenario = HTTPScenario(base: try Scenario(name: name), auth: auth, server: server)
        let result = try await body(scenario)
        await server.stop()
        return result
    } catch {
        await server.stop()
        throw error
    }
}
