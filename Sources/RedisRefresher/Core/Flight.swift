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

    private struct Waiter {
        let continuation: CheckedContinuation<Credentials, any Error>
        let deadline: ContinuousClock.Instant
        let timeout: Duration
    }

    private struct State {
        var waiters: [UInt64: Waiter] = [:]
        var nextID: UInt64 = 0
        var result: Result<Credentials, RefresherError>?
        var isHolding = false
        var isAbandoned = false
        var task: Task<Void, Never>?
        var lastProblem: String?
        /// One timer per flight, not per caller: it wakes at the earliest deadline of the waiting callers, so 10,000
        /// waiting callers cost 10,000 continuations and no extra tasks.
        var timer: Task<Void, Never>?
        var timerTarget: ContinuousClock.Instant?
    }

    private let state = Mutex(State())
    private let onAbandon: @Sendable (Flight) -> Void

    init(generation: Int64, onAbandon: @escaping @Sendable (Flight) -> Void) {
        self.generation = generation
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
    var isAbandoned: Bool { state.withLock { $0.isAbandoned } }

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
        for waiter in waiters { waiter.continuation.resume(with: result.mapError { $0 as any Error }) }
    }

    /// Waits for the outcome until `deadline`; a timeout or cancellation affects this caller only.
    func join(deadline: ContinuousClock.Instant, timeout: Duration) async throws(RefresherError) -> Credentials {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        do {
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Credentials, any Error>) in
                    let (ready, replacedTimer) = state.withLock {
                        state -> (Result<Credentials, RefresherError>?, Task<Void, Never>??) in
                        if let result = state.result { return (result, nil) }
                        if Task.isCancelled { return (.failure(RefresherError(.cancelled, "the caller was cancelled")), nil) }
                        state.waiters[id] = Waiter(continuation: continuation, deadline: deadline, timeout: timeout)
                        guard state.timerTarget.map({ deadline < $0 }) ?? true else { return (nil, nil) }
                        let old = state.timer
                        state.timerTarget = deadline
                        state.timer = Task { [weak self] in await self?.expire(at: deadline) }
                        return (nil, .some(old))
                    }
                    if let replacedTimer { replacedTimer?.cancel() }
                    if let ready { continuation.resume(with: ready.mapError { $0 as any Error }) }
                }
            } onCancel: {
                leave([id], error: { _ in RefresherError(.cancelled, "the caller was cancelled") })
            }
        } catch let error as RefresherError {
            throw error
        } catch {
            throw RefresherError(.cancelled, "the caller was cancelled")
        }
    }

    /// The timer: at `target`, times out every caller whose deadline passed and re-arms for the next deadline.
    private func expire(at target: ContinuousClock.Instant) async {
        guard (try? await Task.sleep(until: target, clock: .continuous)) != nil else { return }
        let now = ContinuousClock.now
        let (expired, problem) = state.withLock { state -> ([UInt64], String?) in
            guard state.timerTarget == target else { return ([], nil) }
            let expired = state.waiters.filter { $0.value.deadline <= now }.map(\.key)
            let next = state.waiters.values.filter { $0.deadline > now }.map(\.deadline).min()
            state.timerTarget = next
            state.timer = next.map { next in Task { [weak self] in await self?.expire(at: next) } }
            return (expired, state.lastProblem)
        }
        leave(expired) { waiter in
            RefresherError(
                .timeout,
                "no fresh credentials within \(waiter.timeout)" + (problem.map { "; last problem: \($0)" } ?? ""))
        }
    }

    /// Removes callers, resuming each with its error; abandons the flight when the last one left while the flight
    /// was only waiting.
    private func leave(_ ids: [UInt64], error: (Waiter) -> RefresherError) {
        guard !ids.isEmpty else { return }
        let (waiters, abandon, task, timer) = state.withLock {
            state -> ([Waiter], Bool, Task<Void, Never>?, Task<Void, Never>?) in
            let waiters = ids.compactMap { state.waiters.removeValue(forKey: $0) }
            guard !waiters.isEmpty, state.waiters.isEmpty, !state.isHolding, state.result == nil, !state.isAbandoned
            else { return (waiters, false, nil, nil) }
            state.isAbandoned = true
            defer {
                state.timer = nil
                state.timerTarget = nil
            }
            return (waiters, true, state.task, state.timer)
        }
        for waiter in waiters { waiter.continuation.resume(throwing: error(waiter)) }
        if abandon {
            timer?.cancel()
            onAbandon(self)
            task?.cancel()
        }
    }
}
