import RedisClient

/// Operator access to one session's keys: read its status, release a stuck lock, install a session after a fresh
/// login. Used by the `refresher` command; usable from any tool.
public struct SessionAdmin: Sendable {
    public let connection: RedisConnection
    public let keys: SessionKeys

    public init(connection: RedisConnection, keys: SessionKeys) {
        self.connection = connection
        self.keys = keys
    }

    /// Everything an operator needs to know about a session, without its tokens.
    public struct Status: Sendable, Codable, Equatable {
        /// The lock holder's owner id, if locked.
        public var lockHolder: String?
        /// The lock's remaining TTL in milliseconds, if locked.
        public var lockTTLMilliseconds: Int64?
        /// When the last refresh started (ms since epoch).
        public var lastRefreshTime: Int64?
        /// The owner id of the lock holder presenting the refresh token, while it does (`attempt_by`).
        public var attemptBy: String?
        /// When that presentation started (ms since epoch, `attempt_at`).
        public var attemptAt: Int64?
        /// That holder's latest successful lock extension (ms since epoch, `attempt_heartbeat`).
        public var attemptHeartbeat: Int64?
        /// When the current lock holder was last seen alive (ms since epoch): the latest of the lock being taken
        /// (``lastRefreshTime``) and, when ``attemptBy`` is the holder, its attempt's start and heartbeat. `nil` when
        /// the lock is free or nothing recorded the holder. See ``liveHolder(within:)``.
        public var holderLastSeen: Int64?
        /// Whether a session is stored.
        public var hasSession: Bool
        public var generation: Int64?
        public var expiresAt: Int64?
        public var refreshedAt: Int64?
        public var refreshedBy: String?
        /// Short fingerprints (`sha1:1a2b3c4d`) of the tokens, never the tokens.
        public var accessTokenFingerprint: String?
        public var refreshTokenFingerprint: String?
        /// Set when the identity provider rejected the refresh token of this generation: re-login required.
        public var rejectedReason: String?
        /// Set when the refresh token of this generation was presented and the answer was lost outside the
        /// provider's reuse grace: nobody presents it again; re-login required (`session put`).
        public var unknownOutcomeReason: String?
        /// The lineage id of the stored session (new with every seed or login).
        public var lineage: String?
        /// The fleet-wide counters.
        public var stats: [String: Int64]
        /// The server's clock (ms since epoch), to compare the times above with.
        public var serverTime: Int64
    }

    /// Reads the status in one round trip.
    public func status() async throws(RefresherError) -> Status {
        try await store.status()
    }

    /// Releases the lock only if `owner` holds it (compare-and-delete), publishing `released`. Returns whether it
    /// was released.
    public func release(owner: String, reason: String = "operator") async throws(RefresherError) -> Bool {
        try await store.release(owner: owner, reason: reason)
    }

    /// What ``release(owner:unlessAliveWithin:reason:)`` did.
    public enum ReleaseOutcome: Sendable, Hashable {
        /// The lock was `owner`'s and is gone (`released` published).
        case released
        /// The lock is not `owner`'s (free, or someone else's): nothing changed.
        case notHeld
        /// `owner` holds the lock and was seen alive within the window: nothing changed.
        case holderAlive
    }

    /// Releases the lock only if `owner` holds it and was not seen alive within `window` (the lock taken, or its
    /// refresh attempt started or extended), checked and done in one atomic step; `nil` skips the liveness check.
    public func release(
        owner: String,
        unlessAliveWithin window: Duration?,
        reason: String = "operator"
    ) async throws(RefresherError) -> ReleaseOutcome {
        try await store.release(owner: owner, reason: reason, unlessAliveWithin: window)
    }

    /// Installs a session after a fresh login: the next generation of a new lineage, a cleared rejection or unknown
    /// outcome, and a `replaced` event. Returns the new generation.
    public func putSession(
        _ tokens: RefreshedTokens,
        by owner: String = "operator"
    ) async throws(RefresherError)
        -> Int64
    {
        guard tokens.refreshToken != nil else {
            throw RefresherError(.invalidConfiguration, "both an access token and a refresh token are required")
        }
        return try await store.replace(tokens, by: owner)
    }

    private var store: SessionStore { SessionStore(connection: connection, keys: keys) }
}
