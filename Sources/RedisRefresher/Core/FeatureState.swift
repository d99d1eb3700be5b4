/// The bookkeeping of the refresher's optional features (event streams, refresh ahead), kept apart from the core's
/// state so that neither contends on the other's lock.
struct FeatureState: Sendable {
    /// The open ``RedisRefresher/events(bufferingPolicy:)`` streams, finished on shutdown.
    var streams: [UInt64: AsyncStream<RefresherEvent>.Continuation] = [:]
    var nextStreamID: UInt64 = 0
    /// Set on shutdown: streams asked for afterwards end at once.
    var streamsClosed = false
    /// The generation of the latest proactive refresh this process started, whether it still runs, and when it
    /// started (a failed one is retried no sooner than a poll interval later).
    var aheadGeneration: Int64?
    var aheadRunning = false
    var aheadStartedAt: ContinuousClock.Instant?
}
