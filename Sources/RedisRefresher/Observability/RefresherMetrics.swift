import CoreMetrics
import Metrics

/// The counters and timers of one refresher, created once (in the refresher's initializer) so that reporting is a
/// plain increment on the hot path. See ``RefresherMetricNames`` for what each one means.
struct RefresherMetrics: Sendable {
    let refreshes: Counter
    let rejectedFailures: Counter
    let transientFailures: Counter
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
        let session = [("session", session.rawValue)]
        func counter(_ label: String, _ extra: [(String, String)] = []) -> Counter {
            Counter(label: label, dimensions: session + extra, factory: factory)
        }
        func timer(_ label: String) -> CoreMetrics.Timer {
            CoreMetrics.Timer(label: label, dimensions: session, factory: factory)
        }
        refreshes = counter(RefresherMetricNames.refreshes)
        rejectedFailures = counter(RefresherMetricNames.failures, [("kind", "rejected")])
        transientFailures = counter(RefresherMetricNames.failures, [("kind", "transient")])
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
    func failed(rejected: Bool, duration: Duration) {
        (rejected ? rejectedFailures : transientFailures).increment()
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
