/// The decisions of a flight that does not (yet) hold the lock, as a pure state machine: after each check and each
/// wake-up, what the flight does next. The driver (``RedisRefresher/run(_:)``) sends the checks and waits; this
/// struct only decides, so it is unit-tested without a server.
struct FlightWaiter: Sendable {
    /// What the flight does next.
    enum Step: Sendable, Equatable {
        /// Deliver this outcome to every caller.
        case finish(Result<Credentials, RefresherError>)
        /// This process holds the lock: refresh.
        case hold(Credentials, graceElapsed: Duration?)
        /// Wait for an event at most this long, then check again.
        case wait(Duration)
    }

    let generation: Int64
    let pollInterval: Duration
    let pubSub: Bool
    /// Checks sent so far.
    private(set) var checks = 0
    /// The holder seen by the latest check: the next check that finds the lock free takes it over.
    private(set) var lastHolder: String?
    /// Server time of the first check that found the lock held: failures recorded after it are this flight's.
    private(set) var waitingSince: Int64?
    /// How the latest wait ended (an events message or the poll timeout), for the resolution metrics.
    private(set) var wokenBy: RefresherMetrics.Wake?
    /// Whether the latest check found the lock taken over from an expired holder.
    private(set) var tookOver = false

    init(generation: Int64, pollInterval: Duration, pubSub: Bool) {
        self.generation = generation
        self.pollInterval = pollInterval
        self.pubSub = pubSub
    }

    /// This flight gave back the lock it held (replicas did not acknowledge it): the next check that takes it is not
    /// a takeover.
    mutating func gaveBackLock() {
        lastHolder = nil
        tookOver = false
    }

    /// Whether the next check counts as a takeover (a holder was seen before).
    var takeover: Bool { lastHolder != nil }
    /// Whether the next check is the first (it counts a fleet-wide wait if it finds the lock held).
    var isFirstCheck: Bool { checks == 0 }

    /// After a check. `subscribed`: the events channel's subscription is confirmed (until it is, an outcome message
    /// may be missed, so the flight checks again soon instead of waiting a whole poll interval).
    mutating func after(_ outcome: SessionStore.CheckOutcome, subscribed: Bool) -> Step {
        checks += 1
        switch outcome {
        case .moved(let credentials):
            return .finish(.success(credentials))
        case .noSession:
            return .finish(.failure(RefresherError(.noSession, "no session is stored")))
        case .rejected(let reason):
            return .finish(.failure(Self.failure(.rejected, reason: reason)))
        case .unknown(let reason):
            return .finish(.failure(Self.failure(.unknown, reason: reason)))
        case .failed(let outcome, let reason):
            return .finish(.failure(Self.failure(outcome, reason: reason)))
        case .acquired(let credentials, _, let graceElapsed):
            tookOver = lastHolder != nil
            return .hold(credentials, graceElapsed: graceElapsed)
        case .held(let holder, let remaining, let serverTime):
            if waitingSince == nil { waitingSince = serverTime }
            lastHolder = holder
            // Check again when the outcome is published, at the latest after a poll interval, or as soon as the
            // holder's lock would expire.
            var wait = pollInterval
            if pubSub, let remaining, remaining < wait { wait = max(remaining, .milliseconds(1)) }
            if pubSub, !subscribed { wait = min(wait, .milliseconds(25)) }
            return .wait(wait)
        }
    }

    /// After a check that could not reach Redis: try again after a poll interval (the callers' deadlines bound it).
    mutating func afterUnavailable() -> Step {
        .wait(pollInterval)
    }

    /// After a wait ended with `event` (`nil`: the wait timed out). Returns the outcome when the event carries it,
    /// `nil` to check again.
    mutating func woke(_ event: RefresherEvent?) -> Step? {
        wokenBy = event == nil ? .poll : .pubSub
        switch event {
        case .failed(let failedGeneration, let outcome, _, let reason) where failedGeneration == generation:
            return .finish(.failure(Self.failure(outcome, reason: reason)))
        case .released:
            lastHolder = nil
            return nil
        default:
            return nil
        }
    }

    /// The error callers get when a refresh of their generation failed.
    static func failure(_ outcome: RefreshFailure.Outcome, reason: String) -> RefresherError {
        switch outcome {
        case .rejected:
            RefresherError(.reloginRequired, "the refresh token was rejected (\(reason)); log in again")
        case .unknown:
            RefresherError(
                .outcomeUnknown,
                "the refresh token was presented and the answer was lost (\(reason)); it is not presented again: "
                    + "log in again (refresher session put)"
            )
        case .notProcessed:
            RefresherError(.refreshFailed, "the refresh failed without using the refresh token: \(reason)")
        }
    }
}
