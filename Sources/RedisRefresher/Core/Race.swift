import Synchronization

/// Runs `operation` in a task of its own and waits for it at most `timeout`; returns `nil` as the result on timeout.
///
/// The operation is not cancelled on timeout and does not inherit the caller's cancellation: its task is handed
/// back, so a late answer can still be used (the holder stores tokens a refresh function returns after its timeout;
/// cancelling would make an HTTP client abort a request whose answer may carry rotated tokens). The operation's own
/// timeouts bound it.
func race<T: Sendable>(
    timeout: Duration,
    _ operation: @escaping @Sendable () async throws -> T
) async -> (result: Result<T, any Error>?, work: Task<T, any Error>) {
    let box = RaceBox<T>()
    let work = Task {
        do {
            let value = try await operation()
            box.resume(.success(value))
            return value
        } catch {
            box.resume(.failure(error))
            throw error
        }
    }
    let timer = Task {
        guard (try? await Task.sleep(for: timeout)) != nil else { return }
        box.resume(nil)
    }
    let result = await withCheckedContinuation { continuation in box.install(continuation) }
    timer.cancel()
    return (result, work)
}

/// The first of the operation's result and the timeout, delivered once.
private final class RaceBox<T: Sendable>: Sendable {
    typealias Outcome = Result<T, any Error>?
    private let state = Mutex<(continuation: CheckedContinuation<Outcome, Never>?, value: Outcome?)>((nil, nil))

    func install(_ continuation: CheckedContinuation<Outcome, Never>) {
        let ready = state.withLock { state -> Outcome? in
            if let value = state.value { return .some(value) }
            state.continuation = continuation
            return nil
        }
        if let ready { continuation.resume(returning: ready) }
    }

    func resume(_ value: Outcome) {
        let continuation = state.withLock { state -> CheckedContinuation<Outcome, Never>? in
            guard state.value == nil else { return nil }
            state.value = .some(value)
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume(returning: value)
    }
}
