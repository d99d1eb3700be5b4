import Foundation
import Logging
import Metrics
import RedisClient
import RedisRefresher
import Tracing

/// One test's session on a Redis server: unique names, a fake identity provider, and a connection to inspect keys.
///
/// Every refresher test builds on it: the refresher's own tests refresh through ``idp``, the HTTP tests through
/// their authorization server (passing their own refresh function).
public struct Scenario: Sendable {
    public let url: String
    public let session: String
    public let keys: SessionKeys
    public let redis: RedisConnection
    public let idp: FakeIdentityProvider
    /// Where the fake identity provider keeps its state: the session's Redis, or (for failover tests, whose
    /// failovers may lose writes) a server of its own.
    public let idpURL: String

    public init(url: String = TestRedis.url, name: String = "s", idpURL: String? = nil) throws {
        self.url = url
        self.idpURL = idpURL ?? url
        session = "\(name)-\(UUID().uuidString.prefix(8))"
        keys = SessionKeys(session: try SessionName(session))
        redis = try RedisConnection(url: url)
        idp = FakeIdentityProvider(
            connection: try idpURL.map { try RedisConnection(url: $0) } ?? redis,
            namespace: session
        )
    }

    /// A refresh function backed by the fake identity provider, with a latency; the tokens it returns live
    /// `lifetime`.
    public func refreshFunction(
        latency: Duration = .milliseconds(50),
        lifetime: Duration = .seconds(3600)
    ) -> RedisRefresher.RefreshFunction {
        let idp = self.idp
        return { current in
            try await Task.sleep(for: latency)
            switch try await idp.refresh(current.refreshToken) {
            case .refreshed(let access, let refresh):
                return RefreshedTokens(accessToken: access, refreshToken: refresh, expiresIn: lifetime)
            case .rejected(let reason):
                throw RefreshFailure.rejected("invalid_grant (\(reason))")
            }
        }
    }

    public func configuration(
        lockTTL: Duration = .seconds(10),
        pollInterval: Duration = .seconds(1),
        reuseGrace: Duration = .zero,
        wakeUp: RefresherConfiguration.WakeUp = .pubSub,
        refreshAhead: Duration? = nil,
        shutdownGracePeriod: Duration = .seconds(30)
    ) -> RefresherConfiguration {
        RefresherConfiguration(
            redisURL: url,
            session: session,
            lockTTL: lockTTL,
            pollInterval: pollInterval,
            refreshTimeout: min(.seconds(30), lockTTL * 10),
            wakeUp: wakeUp,
            refreshAhead: refreshAhead,
            shutdownGracePeriod: shutdownGracePeriod,
            identityProviderReuseGrace: reuseGrace
        )
    }

    /// A refresher for this scenario in this process (own connections: another worker, as far as Redis can tell):
    /// with `configuration`, or else the scenario's configuration with `lockTTL`, `pollInterval` and `reuseGrace`;
    /// refreshing with `refresh`, or else through the fake identity provider with `latency`; its spans go to
    /// `tracer`, or else to the tracer active when a refresh or a wait starts.
    public func refresher(
        _ configuration: RefresherConfiguration? = nil,
        latency: Duration = .milliseconds(50),
        lockTTL: Duration = .seconds(10),
        pollInterval: Duration = .seconds(1),
        reuseGrace: Duration = .zero,
        logger: Logger = Scenario.quietLogger,
        metrics: (any MetricsFactory)? = nil,
        tracer: (any Tracer)? = nil,
        refresh: RedisRefresher.RefreshFunction? = nil
    ) async throws -> RedisRefresher {
        try await RedisRefresher(
            configuration: configuration
                ?? self.configuration(lockTTL: lockTTL, pollInterval: pollInterval, reuseGrace: reuseGrace),
            logger: logger,
            metricsFactory: metrics,
            tracer: tracer,
            refresh: refresh ?? refreshFunction(latency: latency)
        )
    }

    /// A logger for refreshers whose logs the test does not look at.
    public static var quietLogger: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        return logger
    }

    /// Starts the identity provider's token family (with the provider's reuse grace `idpGrace`) and seeds the
    /// session with its first tokens (generation 1), living `lifetime`.
    @discardableResult
    public func seed(
        using refresher: RedisRefresher,
        idpGrace: Duration = .zero,
        lifetime: Duration = .seconds(3600)
    ) async throws -> Credentials {
        let (access, refresh) = try await idp.start(salt: session, grace: idpGrace)
        let (credentials, seeded) = try await refresher.seedSession(
            RefreshedTokens(accessToken: access, refreshToken: refresh, expiresIn: lifetime)
        )
        guard seeded else { throw TestSupportError("session \(session) was seeded before") }
        return credentials
    }

    /// Starts the identity provider's token family and stores its first tokens as `refresher`'s worker would
    /// (`replaced` event by its owner id), without reading them through the refresher, so no refresh ahead of
    /// expiry can start here.
    @discardableResult
    public func seedWithoutReading(
        by refresher: RedisRefresher,
        lifetime: Duration = .seconds(3600)
    ) async throws -> Credentials {
        let (access, refresh) = try await idp.start(salt: session)
        return try await store(
            RefreshedTokens(accessToken: access, refreshToken: refresh, expiresIn: lifetime),
            by: refresher
        )
    }

    /// Stores `tokens` as a fresh login by `refresher`'s worker, without reading them through the refresher.
    public func store(_ tokens: RefreshedTokens, by refresher: RedisRefresher) async throws -> Credentials {
        let admin = SessionAdmin(connection: redis, keys: keys)
        let generation = try await admin.putSession(tokens, by: refresher.connections.ownerID)
        let status = try await admin.status()
        return Credentials(
            accessToken: tokens.accessToken,
            refreshToken: tokens.refreshToken ?? "",
            expiresAtMilliseconds: tokens.expiresAtMilliseconds,
            generation: generation,
            refreshedAtMilliseconds: status.refreshedAt,
            refreshedBy: status.refreshedBy
        )
    }

    /// Whether a lock acquisition of the process with owner id `owner` holds the lock (`owner-N`).
    public func isLockHeld(by owner: String) async throws -> Bool {
        try await lockValue()?.hasPrefix(owner + "-") ?? false
    }

    public func lockValue() async throws -> String? {
        try await redis.send("GET", RedisArgument(keys.lock)).string
    }

    public func storedGeneration() async throws -> Int64? {
        try await redis.send("HGET", RedisArgument(keys.sessionHash), "generation").int
    }

    /// A field of the session hash.
    public func sessionField(_ field: String) async throws -> String? {
        try await redis.send("HGET", RedisArgument(keys.sessionHash), RedisArgument(field)).string
    }

    /// A counter of the session's stats hash (zero when absent).
    public func stat(_ field: String) async throws -> Int64 {
        try await redis.send("HGET", RedisArgument(keys.stats), RedisArgument(field)).int ?? 0
    }
}
