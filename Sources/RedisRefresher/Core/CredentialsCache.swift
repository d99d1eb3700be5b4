/// This process's copy of a session, and whether it is known to be current (so reads skip Redis).
///
/// The events channel keeps it honest: a newer generation announced, a replacement or a gap in the subscription
/// makes it stale, and the next read goes to Redis. A session of another lineage (stored anew after Redis lost its
/// data, or a new login) replaces the copy whatever its generation. An *older generation of the same lineage* never
/// does: its refresh token was already used (Redis went backwards, or the read raced this process's own commit),
/// so the newer copy is kept, and the next refresh writes it back (``RedisRefresher/run(_:)``).
///
/// A value type behind the refresher's lock: no I/O, unit-tested on its own.
struct CredentialsCache: Sendable {
    private(set) var current: Credentials?
    private(set) var isStale = true
    /// The newest generation announced since the copy was last read whole from Redis.
    private var newestAnnounced: Int64 = -1

    /// The copy when it is known to be current.
    var fresh: Credentials? { isStale ? nil : current }

    /// The copy when it is current and supersedes credentials of `generation` and `lineage` (another lineage, or
    /// a newer generation; credentials without a lineage compare by generation only).
    func fresh(supersedingGeneration generation: Int64, lineage: String?) -> Credentials? {
        guard let fresh else { return nil }
        if let lineage, let freshLineage = fresh.lineage, freshLineage != lineage { return fresh }
        return fresh.generation > generation ? fresh : nil
    }

    /// Follows the events channel.
    mutating func heard(_ event: RefresherEvent) {
        switch event {
        case .refreshed(let generation, _, _):
            newestAnnounced = max(newestAnnounced, generation)
            if (current?.generation ?? -1) < generation { isStale = true }
        case .replaced(let generation, _):
            // A new lineage: its generations restart, so the announced high-water mark does too.
            newestAnnounced = generation
            isStale = true
        case .gap:
            isStale = true
        case .failed, .released, .unknown:
            break
        }
    }

    mutating func markStale() {
        isStale = true
    }

    /// Called before a read of the whole session is sent: an event heard while it is under way marks the copy stale
    /// again.
    mutating func beginLoad() {
        isStale = false
    }

    /// A read failed or found nothing: the copy stays stale.
    mutating func failLoad() {
        isStale = true
    }

    /// Takes what Redis returned unless the copy is a newer generation of the same lineage; returns what the caller
    /// should use.
    mutating func finishLoad(_ loaded: Credentials) -> Credentials {
        if let current, current.lineage == loaded.lineage, current.generation > loaded.generation { return current }
        current = loaded
        // Nothing was announced during the read: the copy is everything announced so far.
        if !isStale { newestAnnounced = loaded.generation }
        return loaded
    }

    /// Takes credentials this process just learned from Redis (its own commit, a check that found the session
    /// moved on), unless the copy is newer in the same lineage; the copy becomes current when nothing newer was
    /// announced.
    mutating func stored(_ credentials: Credentials) {
        if let current, current.lineage == credentials.lineage, current.generation > credentials.generation { return }
        current = credentials
        if credentials.generation >= newestAnnounced { isStale = false }
    }
}
