import RedisClient

/// The Redis keys and channel of one session. One hash tag (`{S}`) puts them all in one cluster slot, so the Lua
/// scripts may touch them together.
///
/// | key | type | meaning |
/// |---|---|---|
/// | `P:{S}:lock` | string, PX ttl | owner id of the worker refreshing now |
/// | `P:{S}:last_refresh_time` | string | ms since epoch (Redis `TIME`) when the last refresh started |
/// | `P:{S}:session` | hash | tokens, `expires_at`, `generation`, `refreshed_at`, `refreshed_by` |
/// | `P:{S}:events` | channel | one line per event |
/// | `P:{S}:stats` | hash | fleet-wide counters |
public struct SessionKeys: Sendable, Hashable {
    public let session: SessionName
    public let lock: String
    public let lastRefreshTime: String
    public let sessionHash: String
    public let events: String
    public let stats: String

    public init(prefix: String = "refresher", session: SessionName) {
        self.session = session
        let base = "\(prefix):{\(session.rawValue)}"
        lock = base + ":lock"
        lastRefreshTime = base + ":last_refresh_time"
        sessionHash = base + ":session"
        events = base + ":events"
        stats = base + ":stats"
    }

    /// Every key the refresher stores for this session (the events channel holds nothing), e.g. to delete them all.
    public var storedKeys: [String] { [lock, lastRefreshTime, sessionHash, stats] }

    /// The keys every script takes, in the order the scripts expect.
    var scriptKeys: [RedisArgument] {
        [RedisArgument(lock), RedisArgument(lastRefreshTime), RedisArgument(sessionHash), RedisArgument(stats)]
    }
}
