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
    /// How long one call of the refresh function may run. A call that runs longer is an attempt of unknown
    /// outcome (the request may have reached the provider): see ``identityProviderReuseGrace``.
    public var refreshTimeout: Duration
    /// The identity provider's reuse grace for rotated refresh tokens: how long after its first presentation the
    /// provider still accepts a refresh token again (and answers with the same new tokens or a fresh pair) instead
    /// of treating the second presentation as reuse and revoking the session. Zero (the default) means none: a
    /// refresh token whose answer was lost is never presented again, the outcome is recorded, and every caller fails
    /// with ``RefresherError/Code/outcomeUnknown`` until a new login.
    ///
    /// Set it to the provider's own setting, never more: Auth0 "Reuse Interval" (refresh token rotation), Okta
    /// "Grace period for token rotation" (`refresh_token.leeway`, default 30 s), Amazon Cognito
    /// `RetryGracePeriodSeconds` (0–60 s), Ory Hydra
    /// `oauth2.grant.refresh_token.rotation_grace_period`, Keycloak "Refresh Token Max Reuse" (a count, not a time:
    /// with a max reuse of 1 or more, use a short grace such as 10 s).
    public var identityProviderReuseGrace: Duration
    /// How the lock holder tries again when the provider did not process a request (and inside the reuse grace).
    public var retry: RetryPolicy
    /// How long the holder keeps trying to store new tokens while Redis is unreachable, loading, read-only or out
    /// of memory (it keeps the lock alive meanwhile). Past it the tokens are logged at error level as lost.
    public var commitBudget: Duration
    /// The deadline of ``RedisRefresher/refreshAccessTokenOrReLogin(after:timeout:)`` when none is given.
    public var defaultTimeout: Duration
    /// How waiters learn the holder's outcome.
    public var wakeUp: WakeUp
    /// Refresh proactively: when ``RedisRefresher/credentials()`` finds the session within this margin of its
    /// `expires_at`, it starts a coordinated refresh in the background (and keeps returning the still valid
    /// credentials meanwhile), so most requests never see a 401. The margin never exceeds half a token's lifetime,
    /// and each session starts inside it at its own point (``refreshAheadSpread``). Credentials that have already
    /// expired are refreshed before they are returned. `nil` (the default) refreshes only when a caller asks, after a
    /// 401. Either way one worker of the fleet refreshes per expiry.
    public var refreshAhead: Duration?
    /// How much of the ``refreshAhead`` window sessions spread their refreshes ahead over, from 0 to 1 (default 0.5):
    /// each session starts its refresh ahead between `refreshAhead` and `refreshAhead × (1 − refreshAheadSpread)`
    /// before expiry, at a point fixed by its name (a stable hash, the same in every process of the fleet). Sessions
    /// whose tokens were issued together (a deployment, a batch of logins) then refresh over that part of the
    /// window instead of in the same second; a token that does expire is still refreshed at once when read.
    ///
    /// `refreshAhead × (1 − refreshAheadSpread)` is the lead every session keeps at least (the window is capped at
    /// half a token's lifetime first): with the default, at least half the window. 0 refreshes every session at the
    /// start of its window; 1 spreads over the whole window, so the last sessions start a refresh just before their
    /// tokens expire.
    public var refreshAheadSpread: Double
    /// How long a graceful shutdown (``RedisRefresher/shutdown(gracePeriod:)`` without an argument, and
    /// ``RedisRefresher/run()``) waits for a refresh this process is running to finish and store its result. A lock
    /// taken for a refresh that has not sent anything is released at once; one whose request may be in flight is
    /// never released: past the grace period it is left to expire (and the fleet treats the attempt as of unknown
    /// outcome). The default is the default ``refreshTimeout``.
    public var shutdownGracePeriod: Duration

    /// Whether the holder waits for replicas to hold its lock before presenting the refresh token, and the new session
    /// before forgetting its tokens (see ``ReplicaAcknowledgement``). `nil` (the default) picks
    /// ``ReplicaAcknowledgement/automatic(for:)``: one replica within 1 s with a `redis-sentinel://` URL, off otherwise.
    public var replicaAcknowledgement: ReplicaAcknowledgement?

    /// How the lock holder tries again.
    public struct RetryPolicy: Sendable, Hashable {
        /// How many times in all the refresh token may be presented for one refresh.
        public var maximumAttempts: Int
        /// The delay before the first retry after a not-processed answer; doubled each time, with jitter.
        public var initialBackoff: Duration
        /// The longest delay between two attempts.
        public var maximumBackoff: Duration
        /// No attempt starts later than this after the first one.
        public var budget: Duration

        /// 4 attempts, 100 ms doubling up to 2 s, within 15 s.
        public init(
            maximumAttempts: Int = 4,
            initialBackoff: Duration = .milliseconds(100),
            maximumBackoff: Duration = .seconds(2),
            budget: Duration = .seconds(15)
        ) {
            self.maximumAttempts = maximumAttempts
            self.initialBackoff = initialBackoff
            self.maximumBackoff = maximumBackoff
            self.budget = budget
        }
    }

    /// How long waiters treat a free lock with an unrecorded attempt as still held by that attempt's holder, which
    /// may still answer and store its result: one ``refreshTimeout`` plus one ``lockTTL``. After it, the attempt's
    /// outcome is recorded as unknown.
    public var attemptHorizon: Duration { refreshTimeout + lockTTL }

    /// How waiters learn the holder's outcome.
    public enum WakeUp: Sendable, Hashable {
        /// The outcome message on the events channel wakes them within milliseconds; polling remains the fallback.
        case pubSub
        /// Only polling every ``RefresherConfiguration/pollInterval``, like the browser module this replaces. For
        /// comparisons (benchmarks); not for production.
        case pollingOnly
    }

    /// A configuration with the defaults: prefix `refresher`, lock TTL 10 s, poll 1 s, refresh timeout 30 s,
    /// default timeout 100 s, no refresh ahead of expiry (spread over half the window when set), no provider reuse
    /// grace, the default retry policy, a commit budget of 2 minutes, shutdown grace period 30 s, replica
    /// acknowledgement automatic.
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
        refreshAheadSpread: Double = 0.5,
        shutdownGracePeriod: Duration = .seconds(30),
        identityProviderReuseGrace: Duration = .zero,
        retry: RetryPolicy = RetryPolicy(),
        commitBudget: Duration = .seconds(120),
        replicaAcknowledgement: ReplicaAcknowledgement? = nil
    ) {
        self.replicaAcknowledgement = replicaAcknowledgement
        self.identityProviderReuseGrace = identityProviderReuseGrace
        self.retry = retry
        self.commitBudget = commitBudget
        self.redisURL = redisURL
        self.session = session
        self.keyPrefix = keyPrefix
        self.lockTTL = lockTTL
        self.pollInterval = pollInterval
        self.refreshTimeout = refreshTimeout
        self.defaultTimeout = defaultTimeout
        self.wakeUp = wakeUp
        self.refreshAhead = refreshAhead
        self.refreshAheadSpread = refreshAheadSpread
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
        guard refreshAheadSpread >= 0, refreshAheadSpread <= 1 else {
            throw RefresherError(.invalidConfiguration, "refreshAheadSpread must be between 0 and 1")
        }
        guard shutdownGracePeriod >= .zero, shutdownGracePeriod <= .seconds(3600) else {
            throw RefresherError(.invalidConfiguration, "shutdownGracePeriod must be between 0 and 1 hour")
        }
        // The holder extends the lock every third of its TTL and keeps its new tokens across Redis trouble; a refresh
        // far longer than the lock leans on every one of those extensions.
        guard refreshTimeout <= lockTTL * 10 else {
            throw RefresherError(
                .invalidConfiguration,
                "refreshTimeout (\(refreshTimeout)) must be at most 10 × lockTTL (\(lockTTL)): raise lockTTL or "
                    + "lower refreshTimeout"
            )
        }
        guard identityProviderReuseGrace >= .zero, identityProviderReuseGrace <= .seconds(3600) else {
            throw RefresherError(.invalidConfiguration, "identityProviderReuseGrace must be between 0 and 1 hour")
        }
        guard retry.maximumAttempts >= 1, retry.maximumAttempts <= 100, retry.initialBackoff >= .zero,
            retry.maximumBackoff >= retry.initialBackoff, retry.budget >= .zero
        else {
            throw RefresherError(
                .invalidConfiguration,
                "retry: maximumAttempts must be 1...100, backoffs non-negative with maximumBackoff ≥ initialBackoff, "
                    + "budget non-negative"
            )
        }
        try replicaAcknowledgement?.validate()
        guard commitBudget >= lockTTL, commitBudget <= .seconds(86_400) else {
            throw RefresherError(.invalidConfiguration, "commitBudget must be between lockTTL and 1 day")
        }
        do {
            _ = try RedisConfiguration(url: redisURL)
        } catch {
            throw RefresherError(.invalidConfiguration, "the Redis URL: \(error.message)")
        }
    }

    /// The command timeout a refresher gives the connections it creates itself: just under a third of the lock's
    /// TTL (so a stalled extension is retried before the lock expires), at most 5 s. Longer stalls than that are
    /// answered by a reconnect; a check whose reply is lost then recognises its own lock when sent again.
    var ownCommandTimeout: Duration { min(.seconds(5), lockTTL * 0.32) }

    /// Checks that a command (a lock extension) answers or times out before the next extension is due: for
    /// connections shared through ``RefresherConnections``.
    func validate(commandTimeout: Duration) throws(RefresherError) {
        guard commandTimeout < lockTTL / 3 else {
            throw RefresherError(
                .invalidConfiguration,
                "the Redis command timeout (\(commandTimeout)) must be less than lockTTL / 3 (\(lockTTL / 3)), so a "
                    + "failed lock extension is retried before the lock expires: raise lockTTL or lower the command "
                    + "timeout"
            )
        }
    }
}
