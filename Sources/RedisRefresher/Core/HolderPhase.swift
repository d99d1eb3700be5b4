/// Where a lock acquisition of this process stands, for shutdown: what may be released, what must be left alone.
enum HolderPhase: Sendable, Equatable {
    /// A check that may take the lock was sent and its answer not yet handled (or lost).
    case checking
    /// The lock is held and nothing was presented under it yet.
    case acquired
    /// A refresh request may be in flight, or its answer is being stored: the lock is never released now.
    case presenting
    /// New tokens are stored but replicas have not acknowledged them yet: kept, no lock involved.
    case keeping
}
