import RedisClient

/// Whether the lock holder is alive: releasing the lock of a live holder lets a second worker take the lock and
/// present the same refresh token again while the first one may still be presenting it (reuse, which a rotating
/// identity provider may punish by revoking the session).
extension SessionAdmin {
    /// A lock holder seen alive within a window.
    public struct LiveHolder: Sendable, Hashable {
        /// The holder's owner id.
        public var owner: String
        /// When it was last seen alive (server ms since epoch): lock taken, refresh started, or lock extended.
        public var lastSeen: Int64
        /// How long ago that was, on the server's clock (never negative).
        public var lastSeenAgoMilliseconds: Int64
    }

    /// How recently a holder must have been seen to count as alive, unless the caller says otherwise. A live
    /// holder extends its lock every third of the lock TTL (10 s by default), so 30 s without a sign is a holder
    /// that stopped.
    public static let defaultLiveWindow: Duration = .seconds(30)

    /// The current lock holder if it was seen alive within `window` of the server's clock (`TIME`); `nil` when the
    /// lock is free, nothing recorded the holder, or it was last seen longer ago.
    public func liveHolder(within window: Duration = defaultLiveWindow) async throws(RefresherError) -> LiveHolder? {
        try await status().liveHolder(within: window)
    }
}

extension SessionAdmin.Status {
    /// How long ago the lock holder was last seen alive, on the server's clock; `nil` when unknown or unlocked.
    public var holderLastSeenAgoMilliseconds: Int64? {
        holderLastSeen.map { max(0, serverTime - $0) }
    }

    /// The lock holder if it was seen alive within `window` (see ``SessionAdmin/liveHolder(within:)``).
    public func liveHolder(within window: Duration = SessionAdmin.defaultLiveWindow) -> SessionAdmin.LiveHolder? {
        guard let lockHolder, let holderLastSeen, let ago = holderLastSeenAgoMilliseconds else { return nil }
        guard ago <= window.wholeMilliseconds else { return nil }
        return SessionAdmin.LiveHolder(owner: lockHolder, lastSeen: holderLastSeen, lastSeenAgoMilliseconds: ago)
    }

    /// The latest sign of life of `holder`: the lock taken, and its own refresh attempt's start and heartbeat.
    static func lastSeen(
        holder: String?,
        lastRefreshTime: Int64?,
        attemptBy: String?,
        attemptAt: Int64?,
        attemptHeartbeat: Int64?
    ) -> Int64? {
        guard let holder else { return nil }
        var signs = [lastRefreshTime]
        if attemptBy == holder { signs += [attemptAt, attemptHeartbeat] }
        return signs.compactMap { $0 }.max()
    }
}
