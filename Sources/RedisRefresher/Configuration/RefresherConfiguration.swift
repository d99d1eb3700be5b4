import RedisClient

/// How a ``RedisRefresher`` coordinates one session.
public struct RefresherConfiguration: Sendable {
    /// The Redis server, e.g. `redis://127.0.0.1:6379` (see `RedisConfiguration.init(url:)`).
    public var redisURL: String
    /// The session's name; see ``SessionName`` for what is allowed.
    public var session: String
    /// The first part of every key: `<prefix>:{<session>}:lock`. Same rules as a session name.
    public var keyPrefix: String
    /// How long the lock lives without extension. A holder that crashes is replaced after at most this plus
    /// ``pollInterval``. While a refresh runs, the holder extends the lock every third of it.
    public var lockTTL: Duration
    /// How often waiters check the lock and generation when no pub/sub message arrives (lost message, crashed
    /// holder). The seed's 1 s.
    public var pollInterval: Duration
    /// How long the refresh function may run before it counts as a transient failure.
    public var refreshTimeout: Duration
    /// The deadline of ``RedisRefresher/refreshAccessTokenOrReLogin(after:timeout:)`` when none is given.
    public var defaultTimeout: Duration
    /// How waiters learn the holder's outcome.
    public var wakeUp: WakeUp
    /// Refresh proactively: when ``RedisRefresher/credentials()`` finds the session within this margin of its
    /// `expires_at`, it starts a coordinated refresh in the background (and keeps returning the still valid
    /// credentials meanwhile), so most requests never see a 401. The margin never exceeds half a token's lifetime.
    /// Credentials that have already expired are refreshed before they are returned. `nil` (the default) refreshes
    /// only when a caller asks, after a 401. Either way one worker of the fleet refreshes per expiry.
    public var refreshAhead: Duration?
    /// How long ``RedisRefresher/run()`` (the swift-service-lifecycle entry point) lets a refresh in progress finish
    /// on graceful shutdown before it releases the lock.
    public var shutdownGracePeriod: Duration

    /// How waiters learn the holder's outcome.
    public enum WakeUp: Sendable, Hashable {
        /// The outcome message on the events channel wakes them within milliseconds; polling remains the fallback.
        case pubSub
        /// Only polling every ``RefresherConfiguration/pollInterval``, like the browser module this replaces. For
        /// comparisons (benchmarks); not for production.
        case pollingOnly
    }

    /// A configuration with the defaults: prefix `refresher`, lock TTL 10 s, poll 1 s, refresh timeout 30 s,
    /// default timeout 100 s, no refresh ahead of expiry, shutdown grace period 5 s.
    public init(
        redisURL: String,
        session: String,
        keyPrefix: String = "refresher",
        lockTTL: Duration = .seconds(10),
        pollInterval: Duration = .seconds(1),
        refreshTimeout: Duration = .seconds(30),
        defaultTimeout: Duration = .seconds(100),
        wakeUp: WakeUp = .pubSub,
        refreshAhead: Duration? = nil,
        shutdownGracePeriod: Duration = .seconds(5)
    ) {
        self.redisURL = redisURL
        self.session = session
        self.keyPrefix = keyPrefix
        self.lockTTL = lockTTL
        self.pollInterval = pollInterval
        self.refreshTimeout = refreshTimeout
        self.defaultTimeout = defaultTimeout
        self.wakeUp = wakeUp
        self.refreshAhead = refreshAhead
        self.shutdownGracePeriod = shutdownGracePeriod
    }

    /// Checks every value; throws ``RefresherError/Code/invalidConfiguration`` naming the bad one.
    public func validate() throws(RefresherError) {
        _ = try SessionName(session)
        do {
            _ = try SessionName(keyPrefix)
        } catch {
            throw RefresherError(.invalidConfiguration, "the key prefix: \(error.message)")
        }
        guard lockTTL >= .milliseconds(100), lockTTL <= .seconds(3600) else {
            throw RefresherError(.invalidConfiguration, "lockTTL must be between 100 ms and 1 hour")
        }
        guard pollInterval >= .milliseconds(10), pollInterval <= .seconds(60) else {
            throw RefresherError(.invalidConfiguration, "pollInterval must be between 10 ms and 60 s")
        }
        guard refreshTimeout > .zero, refreshTimeout <= .seconds(3600) else {
            throw RefresherError(.invalidConfiguration, "refreshTimeout must be positive and at most 1 hour")
        }
        guard defaultTimeout > .zero else {
            throw RefresherError(.invalidConfiguration, "defaultTimeout must be positive")
        }
        if let refreshAhead, refreshAhead <= .zero || refreshAhead > .seconds(86_400) {
            throw RefresherError(.invalidConfiguration, "refreshAhead must be positive and at most 1 day")
        }
        guard shutdownGracePeriod >= .zero, shutdownGracePeriod <= .seconds(3600) else {
            throw RefresherError(.invalidConfiguration, "shutdownGracePeriod must be between 0 and 1 hour")
        }
    }
}
