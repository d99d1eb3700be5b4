import Synchronization

/// A one-consumer queue of events with a bounded wait: how a waiting refresh hears pub/sub outcomes and falls back
/// to polling when nothing arrives.
final class Mailbox<Event: Sendable>: Sendable {
    private struct State {
        var events: [Event] = []
        var waiter: CheckedContinuation<Event?, Never>?
        var waiterID: UInt64 = 0
    }
    private let state = Mutex(State())

    /// Delivers an event, waking the consumer if it waits.
    func post(_ event: Event) {
        let waiter = state.withLock { state -> CheckedContinuation<Event?, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.events.append(event)
            return nil
        }
        waiter?.resume(returning: event)
    }

    /// Drops buffered events.
    func clear() {
        state.withLock { $0.events.removeAll() }
    }

    /// The next event, or `nil` when `timeout` passes first or the task is cancelled.
    func next(timeout: Duration) async -> Event? {
        if let event = state.withLock({ $0.events.isEmpty ? nil : $0.events.removeFirst() }) { return event }
        let id = state.withLock { state -> UInt64 in
            state.waiterID &+= 1
            return state.waiterID
        }
        let timer = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            self?.wakeWaiter(id: id)
        }
        defer { timer.cancel() }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Event?, Never>) in
                let immediate: Event?? = state.withLock { state in
                    if !state.events.isEmpty { return .some(state.events.removeFirst()) }
                    if Task.isCancelled || state.waiterID != id { return .some(nil) }
                    state.waiter = continuation
                    return .none
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            wakeWaiter(id: id)
        }
    }

    /// Resumes the waiter of wait `id` with `nil`; a later wait is not affected.
    private func wakeWaiter(id: UInt64) {
        let waiter = state.withLock { state -> CheckedContinuation<Event?, Never>? in
            guard state.waiterID == id else { return nil }
            // Invalidate the id so a continuation not yet installed resumes at once.
            state.waiterID &+= 1
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }
}
