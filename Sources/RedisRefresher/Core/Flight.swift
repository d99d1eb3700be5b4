import Synchronization

/// One in-process refresh "after generation g" of a session, joined by every local caller that holds credentials
/// of that generation (single-flight).
///
/// The work runs in a task of its own, so a caller's timeout or cancellation only removes that caller. When the
/// last caller leaves while the flight is still only waiting for another worker, the flight is abandoned (its task
/// cancelled); once this process holds the lock the flight always runs to its end, so the lock is released or the
/// result stored, never left behind.
final class Flight: Sendable {
    let generation: Int64
    /// The lineage of the callers' credentials (a refresh after g of one lineage is not one of another).
    let lineage: String?

    /// Why a waiting caller was resumed; the result itself is read from the flight, which keeps each waiting
    /// task's frame small (10,000 waiters cost 10,000 small frames).
    enum Wake: Sendable {
        case finished, timedOut, cancelled
    }

    private struct Waiter {
        let continuation: CheckedContinuation<Wake, Never>
        let deadline: ContinuousClock.Instant
    }

    private struct State {
        var waiters: [UInt64: Waiter] = [:]
        var nextID: UInt64 = 0
        var result: Result<Credentials, RefresherError>?
        var isHolding = false
        /// Why the flight was abandoned: the last caller timed out or was cancelled.
        var abandonedBy: Wake?
        var task: Task<Void, Never>?
        var lastProblem: String?
        /// One timer per flight, not per caller: it wakes at the earliest deadline of the waiting callers, so 10,000
        /// waiting callers cost 10,000 continuations and no extra tasks.
        var timer: Task<Void, Never>?
        var timerTarget: ContinuousClock.Instant?
    }

    private let state = Mutex(State())
    private let onAbandon: @Sendable (Flight) -> Void
    /// Called for each caller whose deadline passed (logs and metrics).
    private let onTimeout: @Sendable (Flight, Duration) -> Void

    /// A flight that is already over: the answer for a caller that needs no refresh.
    convenience init(finished result: Result<Credentials, RefresherError>) {
        self.init(generation: -1, lineage: nil, onAbandon: { _ in }, onTimeout: { _, _ in })
        finish(result)
    }

    init(
        generation: Int64,
        lineage: String?,
        onAbandon: @escaping @Sendable (Flight) -> Void,
        onTimeout: @escaping @Sendable (Flight, Duration) -> Void
    ) {
        self.onTimeout = onTimeout
        self.generation = generation
        self.lineage = lineage
        self.onAbandon = onAbandon
    }

    /// Attaches the task that does the work.
    func attach(_ task: Task<Void, Never>) {
        state.withLock { $0.task = task }
    }

    /// Marks that this process now holds the lock: from here on the flight is never abandoned.
    func markHolding() {
        state.withLock { $0.isHolding = true }
    }

    /// Remembers the latest transient problem (e.g. Redis unreachable) so a timeout can say what went wrong.
    func note(problem: String) {
        state.withLock { $0.lastProblem = problem }
    }

    /// Whether the flight was abandoned (no caller left).
    var isAbandoned: Bool { state.withLock { $0.abandonedBy != nil } }

    /// Why the flight was abandoned (`timedOut` or `cancelled`), `nil` while a caller is left.
    var abandonedBy: Wake? { state.withLock { $0.abandonedBy } }

    /// Whether a caller may still join: no result yet and not abandoned.
    var isOpen: Bool { state.withLock { $0.result == nil && $0.abandonedBy == nil } }

    /// What the flight delivered to its callers, `nil` until it finished.
    var result: Result<Credentials, RefresherError>? { state.withLock { $0.result } }

    /// Delivers the outcome to every caller still waiting.
    func finish(_ result: Result<Credentials, RefresherError>) {
        let (waiters, timer) = state.withLock { state -> ([Waiter], Task<Void, Never>?) in
            guard state.result == nil else { return ([], nil) }
            state.result = result
            defer {
                state.waiters = [:]
                state.timer = nil
                state.timerTarget = nil
            }
            return (Array(state.waiters.values), state.timer)
        }
        timer?.cancel()
        for waiter in waiters { waiter.continuation.resume(returning: .finished) }
    }

    /// Waits for the outcome until `deadline`; a timeout or cancellation affects this caller only.
    func join(deadline: ContinuousClock.Instant, timeout: Duration) async throws(RefresherError) -> Credentials {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        let wake = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                register(id, continuation, deadline: deadline)
            }
        } onCancel: {
            leave([id], reason: .cancelled)
        }
        return try outcome(wake, timeout: timeout)
    }

    /// Not inlined (nor is ``register(_:_:deadline:)``): the locals of an async function live in its task's frame,
    /// and 10,000 waiting callers are a design point.
    @inline(never)
    private func outcome(_ wake: Wake, timeout: Duration) throws(RefresherError) -> Credentials {
        switch wake {
        case .finished:
            guard let result = state.withLock({ $0.result }) else { throw RefresherError(.cancelled, "no result") }
            return try result.get()
        case .cancelled: throw RefresherError(.cancelled, "the caller was cancelled")
        case .timedOut:
            onTimeout(self, timeout)
            let problem = state.withLock { $0.lastProblem }
            throw RefresherError(
                .timeout,
                "no fresh credentials within \(timeout)" + (problem.map { "; last problem: \($0)" } ?? "")
            )
        }
    }

    @inline(never)
    private func register(
        _ id: UInt64,
        _ continuation: CheckedContinuation<Wake, Never>,
        deadline: ContinuousClock.Instant
    ) {
        var ready: Wake?
        var replaced: Task<Void, Never>?
        state.withLock { state in
            if state.result != nil {
                ready = .finished
                return
            }
            if Task.isCancelled {
                ready = .cancelled
                return
            }
            state.waiters[id] = Waiter(continuation: continuation, deadline: deadline)
            guard state.timerTarget.map({ deadline < $0 }) ?? true else { return }
            replaced = state.timer
            state.timerTarget = deadline
            state.timer = Task { [weak self] in await self?.expire(at: deadline) }
        }
        replaced?.cancel()
        if let ready { continuation.resume(returning: ready) }
    }

    /// The timer: at `target`, times out every caller whose deadline passed and re-arms for the next deadline.
    private func expire(at target: ContinuousClock.Instant) async {
        guard (try? await Task.sleep(until: target, clock: .continuous)) != nil else { return }
        let now = ContinuousClock.now
        let expired = state.withLock { state -> [UInt64] in
            guard state.timerTarget == target else { return [] }
            let expired = state.waiters.filter { $0.value.deadline <= now }.map(\.key)
            let next = state.waiters.values.filter { $0.deadline > now }.map(\.deadline).min()
            state.timerTarget = next
            state.timer = next.map { next in Task { [weak self] in await self?.expire(at: next) } }
            return expired
        }
        leave(expired, reason: .timedOut)
    }

    /// Removes callers, resuming each with its error; abandons the flight when the last one left while the flight
    /// was only waiting.
    private func leave(_ ids: [UInt64], reason: Wake) {
        guard !ids.isEmpty else { return }
        let (waiters, abandon, task, timer) = state.withLock {
            state -> ([Waiter], Bool, Task<Void, Never>?, Task<Void, Never>?) in
            let waiters = ids.compactMap { state.waiters.removeValue(forKey: $0) }
            guard !waiters.isEmpty, state.waiters.isEmpty, !state.isHolding, state.result == nil,
                state.abandonedBy == nil
            else { return (waiters, false, nil, nil) }
            state.abandonedBy = reason
            defer {
                state.timer = nil
                state.timerTarget = nil
            }
            return (waiters, true, state.task, state.timer)
        }
        for waiter in waiters { waiter.continuation.resume(returning: reason) }
        if abandon {
            timer?.cancel()
            onAbandon(self)
            task?.cancel()
        }
    }
}
