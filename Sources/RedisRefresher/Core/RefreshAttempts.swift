/// The lock holder's decisions for one refresh, as a pure state machine: given how an attempt ended, what to do next.
///
/// The driver (``RedisRefresher/refreshAsHolder(_:acquisition:graceElapsed:checkSentAt:tookOver:)``) presents the refresh token
/// when told to, reports each attempt's result, and carries out the returned action; the machine holds no I/O and
/// no clock of its own, so every rule is unit-tested with made-up instants.
///
/// | attempt ended | action |
/// |---|---|
/// | succeeded | commit the tokens, whatever their expiry |
/// | rejected | record the rejection (re-login) |
/// | not processed | retry after a backoff with jitter, within the attempt budget; then record "not processed" |
/// | unknown | retry at once while inside the provider's reuse grace; otherwise record "unknown" |
///
/// Once any attempt's outcome was unknown, the provider may have rotated the token: every later presentation (a
/// not-processed retry included) must fall inside the reuse grace, and a final failure is recorded as unknown.
struct RefreshAttempts: Sendable {
    /// The limits the machine works within.
    struct Policy: Sendable, Equatable {
        /// The identity provider's reuse grace: how long after its first presentation a refresh token may be
        /// presented again. Zero: never.
        var reuseGrace: Duration
        /// How many times the token may be presented in all (not-processed retries and in-grace retries).
        var maximumAttempts: Int
        /// The first backoff after a not-processed attempt; doubled each time, up to ``maximumBackoff``.
        var initialBackoff: Duration
        var maximumBackoff: Duration
        /// The time from the first attempt after which no new attempt starts.
        var budget: Duration
    }

    /// How one attempt ended.
    enum Result: Sendable, Equatable {
        case succeeded(RefreshedTokens)
        case failed(RefreshFailure)
    }

    /// What the holder does next.
    enum Action: Sendable, Equatable {
        /// Store the tokens with the fenced write.
        case commit(RefreshedTokens)
        /// Present the refresh token again after `delay`.
        case retry(after: Duration)
        /// Record this failure on the session and tell the fleet.
        case record(RefreshFailure)
    }

    let policy: Policy
    private(set) var attempts = 0
    /// Tries that failed before anything was presented (Redis could not record the attempt).
    private(set) var unrecordedTries = 0
    private(set) var mayHaveRotated: Bool
    private var firstAttempt: ContinuousClock.Instant?
    /// Until when the provider accepts this refresh token again; `nil` until the first presentation.
    private(set) var graceDeadline: ContinuousClock.Instant?

    /// A machine for a fresh refresh, or for a takeover inside the reuse grace of an earlier presentation that
    /// happened `graceElapsed` before `now` (its outcome unknown). For a takeover, `now` is when the check that
    /// measured `graceElapsed` was sent, so its round trip counts against the grace.
    init(policy: Policy, graceElapsed: Duration? = nil, now: ContinuousClock.Instant) {
        self.policy = policy
        mayHaveRotated = graceElapsed != nil
        if let graceElapsed { graceDeadline = now.advanced(by: policy.reuseGrace - graceElapsed) }
    }

    /// Counts a presentation starting at `now`; the first one starts the grace window and the budget.
    mutating func presenting(at now: ContinuousClock.Instant) {
        attempts += 1
        if firstAttempt == nil { firstAttempt = now }
        if graceDeadline == nil { graceDeadline = now.advanced(by: policy.reuseGrace) }
    }

    /// Counts a try that failed before anything was presented (Redis could not record the attempt, as while a
    /// primary fails over): not a presentation, so it does not use up ``Policy/maximumAttempts``, but it starts the
    /// budget, which bounds a Redis that keeps failing, and lengthens the backoff.
    mutating func unrecorded(at now: ContinuousClock.Instant) {
        unrecordedTries += 1
        if firstAttempt == nil { firstAttempt = now }
    }

    /// The next action after an attempt ended with `result` at `now`. `jitter` in 0...1 scales the backoff between
    /// half and all of it (so a fleet's holders do not retry in step).
    mutating func next(after result: Result, at now: ContinuousClock.Instant, jitter: Double) -> Action {
        let failure: RefreshFailure
        switch result {
        case .succeeded(let tokens):
            return .commit(tokens)
        case .failed(let reported):
            failure = reported
        }
        switch failure.outcome {
        case .rejected:
            return .record(failure)
        case .unknown:
            mayHaveRotated = true
            guard attempts < policy.maximumAttempts, withinBudget(now), insideGrace(now) else {
                return .record(failure)
            }
            return .retry(after: .zero)
        case .notProcessed:
            let delay = backoff(jitter: jitter)
            let at = now.advanced(by: delay)
            guard attempts < policy.maximumAttempts, withinBudget(at), !mayHaveRotated || insideGrace(at) else {
                return .record(mayHaveRotated ? .outcomeUnknown(failure.reason) : failure)
            }
            return .retry(after: delay)
        }
    }

    /// Whether a presentation at `instant` still falls inside the reuse grace, with a margin for the request to
    /// reach the provider (a quarter of the grace, at most one second).
    func insideGrace(_ instant: ContinuousClock.Instant) -> Bool {
        guard policy.reuseGrace > .zero, let graceDeadline else { return false }
        let margin = min(policy.reuseGrace / 4, .seconds(1))
        return instant.advanced(by: margin) < graceDeadline
    }

    private func withinBudget(_ instant: ContinuousClock.Instant) -> Bool {
        guard let firstAttempt else { return true }
        return instant < firstAttempt.advanced(by: policy.budget)
    }

    private func backoff(jitter: Double) -> Duration {
        var delay = policy.initialBackoff
        for _ in 1..<max(attempts + unrecordedTries, 1) where delay < policy.maximumBackoff { delay *= 2 }
        delay = min(delay, policy.maximumBackoff)
        return delay * (0.5 + 0.5 * min(max(jitter, 0), 1))
    }
}
