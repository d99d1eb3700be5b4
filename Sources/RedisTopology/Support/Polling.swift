/// What one check of a condition found: the value awaited, why not yet, or why it never will be.
enum Check<Value: Sendable>: Sendable {
    case met(Value)
    case unmet(String)
    /// Ends the wait at once with this error (a process that exited will not start answering).
    case failed(TopologyError)
}

/// Checks `condition` every `interval` until it is met, and throws after `timeout` with what `what` waited for and
/// the last reason it was not met. A check that throws counts as unmet (nodes may be down, stopped or restarting
/// meanwhile); one that fails ends the wait. Cancellation of the calling task ends the wait with
/// `CancellationError`.
func poll<Value: Sendable>(
    _ what: String,
    timeout: Duration,
    every interval: Duration = .milliseconds(50),
    _ condition: () async throws -> Check<Value>
) async throws -> Value {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while true {
        let check: Check<Value>
        do {
            check = try await condition()
        } catch {
            check = .unmet("\(error)")
        }
        let reason: String
        switch check {
        case .met(let value): return value
        case .unmet(let why): reason = why
        case .failed(let error): throw error
        }
        guard ContinuousClock.now < deadline else {
            throw TopologyError("timed out after \(timeout) waiting until \(what); last: \(reason)")
        }
        try await Task.sleep(for: interval)
    }
}
