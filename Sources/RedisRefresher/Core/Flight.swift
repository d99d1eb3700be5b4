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

    private struct State {
        var waiters: [UInt64: CheckedContinuation<Credentials, any Error>] = [:]
        var nextID: UInt64 = 0
        var result: Result<Credentials, RefresherError>?
        var isHolding = false
        var isAbandoned = false
        var task: Task<Void, Never>?
        var lastProblem: String?
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
        let waiters = state.withLock { state -> [CheckedContinuation<Credentials, any Error>] in
            guard state.result == nil else { return [] }
            state.result = result
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(with: result.mapError { $0 as any Error }) }
    }

    /// Waits for the outcome until `deadline`; a timeout or cancellation affects this caller only.
    func join(deadline: ContinuousClock.Instant, timeout: Duration) async throws(RefresherError) -> Credentials {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        let timer = Task { [weak self] in
            guard (try? await Task.sleep(until: deadline, clock: .continuous)) != nil, let self else { return }
            let problem = self.state.withLock { $0.lastProblem }
            self.leave(
                id,
                error: RefresherError(
                    .timeout, "no fresh credentials within \(timeout)" + (problem.map { "; last problem: \($0)" } ?? "")))
        }
        defer { timer.cancel() }
        do {
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Credentials, any Error>) in
                    let ready = state.withLock { state -> Result<Credentials, RefresherError>? in
                        if let result = state.result { return result }
                        if Task.isCancelled { return .failure(RefresherError(.cancelled, "the caller was cancelled")) }
                        state.waiters[id] = continuation
                        return nil
                    }
                    if let ready { continuation.resume(with: ready.mapError { $0 as any Error }) }
                }
            } onCancel: {
                leave(id, error: RefresherError(.cancelled, "the caller was cancelled"))
            }
        } catch let error as RefresherError {
            throw error
        } catch {
            throw RefresherError(.cancelled, "the caller was cancelled")
        }
    }

    /// Removes one caller, resuming it with `error`; abandons the flight when it was the last and the flight is
    /// only waiting.
    private func leave(_ id: UInt64, error: RefresherError) {
        let (waiter, abandon, task) = state.withLock {
            state -> (CheckedContinuation<Credentials, any Error>?, Bool, Task<Void, Never>?) in
            let waiter = state.waiters.removeValue(forKey: id)
            guard waiter != nil, state.waiters.isEmpty, !state.isHolding, state.result == nil, !state.isAbandoned else {
                return (waiter, false, nil)
            }
            state.isAbandoned = true
            return (waiter, true, state.task)
        }
        waiter?.resume(throwing: error)
        if abandon {
            onAbandon(self)
            task?.cancel()
        }
    }
}
