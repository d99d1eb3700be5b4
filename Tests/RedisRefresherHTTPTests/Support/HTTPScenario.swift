import AsyncHTTPClient
import Foundation
import Logging
import Metrics
import RedisRefresher
import RedisRefresherHTTP
import RedisTestSupport

/// One test's session on the shared Redis, with an authorization server over real HTTP, and the shared HTTP client.
struct HTTPScenario {
    let session: String
    let keys: SessionKeys
    let redis: RedisConnection
    let auth: TestAuthServer
    let server: TestHTTPServer
    let http: HTTPClient

    static func start(
        _ behaviour: TestAuthServer.Behaviour = .init(), name: String = "http"
    ) async throws -> HTTPScenario {
        let session = "\(name)-\(UUID().uuidString.prefix(8))"
        let auth = TestAuthServer(behaviour)
        return HTTPScenario(
            session: session, keys: SessionKeys(session: try SessionName(session)),
            redis: try RedisConnection(url: TestRedis.url), auth: auth, server: try await auth.serve(),
            http: .shared)
    }

    /// A logger for refreshers whose logs the test does not look at.
    static var quietLogger: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        return logger
    }

    /// The grant against this scenario's token endpoint.
    var grant: OAuth2RefreshGrant {
        OAuth2RefreshGrant(tokenEndpoint: server.url + "/oauth/token", requestTimeout: .seconds(5))
    }

    func configuration(
        pollInterval: Duration = .seconds(1), refreshAhead: Duration? = nil,
        wakeUp: RefresherConfiguration.WakeUp = .pubSub
    ) -> RefresherConfiguration {
        RefresherConfiguration(
            redisURL: TestRedis.url, session: session, pollInterval: pollInterval, wakeUp: wakeUp,
            refreshAhead: refreshAhead, shutdownGracePeriod: .milliseconds(300))
    }

    /// A refresher (own connections: another worker, as far as Redis can tell) using `refresh`, by default the
    /// OAuth 2.0 grant against this scenario's server.
    func refresher(
        _ configuration: RefresherConfiguration? = nil, logger: Logger = HTTPScenario.quietLogger,
        metrics: (any MetricsFactory)? = nil, refresh: RedisRefresher.RefreshFunction? = nil
    ) async throws -> RedisRefresher {
        try await RedisRefresher(
            configuration: configuration ?? self.configuration(), logger: logger, metricsFactory: metrics,
            refresh: refresh ?? grant.refreshFunction(client: http))
    }

    /// Stores a fresh login as `refresher`'s worker would (`replaced` event by its owner id), without reading it
    /// through the refresher (no refresh ahead of expiry can start here); `accessToken` replaces the issued access
    /// token (for example with one the API does not accept, so the first request gets a 401).
    @discardableResult
    func seed(_ refresher: RedisRefresher, accessToken: String? = nil) async throws -> Credentials {
        var tokens = auth.login()
        if let accessToken { tokens.accessToken = accessToken }
        let admin = SessionAdmin(connection: redis, keys: keys)
        let generation = try await admin.putSession(tokens, by: refresher.connections.ownerID)
        let status = try await admin.status()
        return Credentials(
            accessToken: tokens.accessToken, refreshToken: tokens.refreshToken ?? "",
            expiresAtMilliseconds: tokens.expiresAtMilliseconds, generation: generation,
            refreshedAtMilliseconds: status.refreshedAt, refreshedBy: status.refreshedBy)
    }

    func storedGeneration() async throws -> Int64? {
        try await redis.send("HGET", RedisArgument(keys.sessionHash), "generation").int
    }

    func storedField(_ field: String) async throws -> String? {
        try await redis.send("HGET", RedisArgument(keys.sessionHash), RedisArgument(field)).string
    }

    /// Whether a lock acquisition of the process with owner id `owner` holds the lock (`owner-N`).
    func isLockHeld(by owner: String) async throws -> Bool {
        try await lockValue()?.hasPrefix(owner + "-") ?? false
    }

    func lockValue() async throws -> String? {
        try await redis.send("GET", RedisArgument(keys.lock)).string
    }

    /// Stops the server and closes the connection. (The client is `HTTPClient.shared`, which needs no shutdown: a
    /// test that fails half-way cannot leave a client behind that traps in its deinit.)
    func stop() async {
        await server.stop()
        redis.close()
    }
}
