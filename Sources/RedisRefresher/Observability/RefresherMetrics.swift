import CoreMetrics
import Metrics

/// The counters and timers of one refresher, created once (in the refresher's initializer) so that reporting is a
/// plain increment on the hot path. See ``RefresherMetricNames`` for what each one means.
struct RefresherMetrics: Sendable {
    let refreshes: Counter
    let rejectedFailures: Counter
    let notProcessedFailures: Counter
    let unknownFailures: Counter
    let notProcessedRetries: Counter
    let inGraceRetries: Counter
    let locksLost: Counter
    let commitsAbandoned: Counter
    let unacknowledgedLocks: Counter
    let unacknowledgedCommits: Counter
    let commitsUnacknowledged: Counter
    let locksLeftOnShutdown: Counter
    let waits: Counter
    let pubSubResolutions: Counter
    let pollResolutions: Counter
    let wakeUpLatency: CoreMetrics.Timer
    let takeovers: Counter
    let fencedWrites: Counter
    let timeouts: Counter
    let refreshDuration: CoreMetrics.Timer
    let refreshesAhead: Counter

    /// How a waiter learned that the outcome was there.
    enum Wake: Sendable {
        case pubSub, poll
    }

    init(session: SessionName, factory: any MetricsFactory) {
        // One array for the metrics without further dimensions: thousands of sessions are a design point.
        let session = [("session", session.rawValue)]
        func counter(_ label: String, _ extra: [(String, String)] = []) -> Counter {
            Counter(label: label, dimensions: extra.isEmpty ? session : session + extra, factory: factory)
        }
        func timer(_ label: String) -> CoreMetrics.Timer {
            CoreMetrics.Timer(label: label, dimensions: session, factory: factory)
        }
        refreshes = counter(RefresherMetricNames.refreshes)
        rejectedFailures = counter(RefresherMetricNames.failures, [("kind", "rejected")])
        notProcessedFailures = counter(RefresherMetricNames.failures, [("kind", "not_processed")])
        unknownFailures = counter(RefresherMetricNames.failures, [("kind", "unknown")])
        notProcessedRetries = counter(RefresherMetricNames.retries, [("reason", "not_processed")])
        inGraceRetries = counter(RefresherMetricNames.retries, [("reason", "in_grace")])
        locksLost = counter(RefresherMetricNames.locksLost)
        commitsAbandoned = counter(RefresherMetricNames.commitsAbandoned)
        unacknowledgedLocks = counter(RefresherMetricNames.unacknowledgedWrites, [("write", "lock")])
        unacknowledgedCommits = counter(RefresherMetricNames.unacknowledgedWrites, [("write", "commit")])
        commitsUnacknowledged = counter(RefresherMetricNames.commitsUnacknowledged)
        locksLeftOnShutdown = counter(RefresherMetricNames.locksLeftOnShutdown)
        waits = counter(RefresherMetricNames.waits)
        pubSubResolutions = counter(RefresherMetricNames.resolutions, [("via", "pubsub")])
        pollResolutions = counter(RefresherMetricNames.resolutions, [("via", "poll")])
        wakeUpLatency = timer(RefresherMetricNames.wakeUpLatency)
        takeovers = counter(RefresherMetricNames.takeovers)
        fencedWrites = counter(RefresherMetricNames.fencedWrites)
        timeouts = counter(RefresherMetricNames.timeouts)
        refreshDuration = timer(RefresherMetricNames.refreshDuration)
        refreshesAhead = counter(RefresherMetricNames.refreshesAhead)
    }

    /// A refresh this process performed was stored.
    func refreshed(duration: Duration) {
        refreshes.increment()
        refreshDuration.record(duration: duration)
    }

    /// A refresh this process performed failed.
    func failed(_ outcome: RefreshFailure.Outcome, duration: Duration) {
        switch outcome {
        case .rejected: rejectedFailures.increment()
        case .notProcessed: notProcessedFailures.increment()
        case .unknown: unknownFailures.increment()
        }
        refreshDuration.record(duration: duration)
    }

    /// A wait for another worker ended; `credentials` is the session it ended with, if any (a failure has none).
    func resolved(via wake: Wake?, with credentials: Credentials?) {
        guard let wake else { return }
        (wake == .pubSub ? pubSubResolutions : pollResolutions).increment()
        if let refreshedAt = credentials?.refreshedAtMilliseconds {
            wakeUpLatency.recordMilliseconds(max(0, UnixTime.nowMilliseconds - refreshedAt))
        }
    }
}
