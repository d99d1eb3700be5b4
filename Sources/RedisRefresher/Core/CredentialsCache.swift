/// This process's copy of a session, and whether it is known to be current (so reads skip Redis).
///
/// The events channel keeps it honest: a newer generation announced, a replacement or a gap in the subscription
/// makes it stale, and the next read goes to Redis. What Redis returns is the truth, even when it is older than
/// the copy (Redis lost its data and the session was stored again, as a new lineage or restored from a backup);
/// only a result this process stored *while* that read was under way wins over it.
///
/// A value type behind the refresher's lock: no I/O, unit-tested on its own.
struct CredentialsCache: Sendable {
    private(set) var current: Credentials?
    private(set) var isStale = true
    /// The newest generation announced since the copy was last read whole from Redis.
    private var newestAnnounced: Int64 = -1
    /// Bumped on every change of `current`, so a read can tell whether a result landed while it was under way.
    private var version: UInt64 = 0

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
    /// again. Returns the token to pass to ``finishLoad(_:token:)``.
    mutating func beginLoad() -> UInt64 {
        isStale = false
        return version
    }

    /// A read failed or found nothing: the copy stays stale.
    mutating func failLoad() {
        isStale = true
    }

    /// Takes what Redis returned (the truth, even if older than the copy) unless a newer result of the same lineage
    /// was stored while the read was under way; returns what the caller should use.
    mutating func finishLoad(_ loaded: Credentials, token: UInt64) -> Credentials {
        if token != version, let current, current.lineage == loaded.lineage, current.generation > loaded.generation {
            return current
        }
        set(loaded)
        // Nothing was announced during the read: the copy is everything announced so far.
        if !isStale { newestAnnounced = loaded.generation }
        return loaded
    }

    /// Takes credentials this process just learned from Redis (its own commit, a check that found the session
    /// moved on), unless the copy is newer in the same lineage; the copy becomes current when nothing newer was
    /// announced.
    mutating func stored(_ credentials: Credentials) {
        if let current, current.lineage == credentials.lineage, current.generation > credentials.generation { return }
        set(credentials)
        if credentials.generation >= newestAnnounced { isStale = false }
    }

    /// Takes what Redis holds although it is older than the copy in the same lineage (Redis went backwards): it is
    /// current, and the announced high-water mark restarts from it.
    mutating func replace(with credentials: Credentials) {
        set(credentials)
        newestAnnounced = credentials.generation
        isStale = false
    }

    private mutating func set(_ credentials: Credentials) {
        current = credentials
        version &+= 1
    }
}
