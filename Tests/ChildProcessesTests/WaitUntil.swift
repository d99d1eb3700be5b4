/// Checks `condition` every 10 ms until it holds or `timeout` passes; whether it held. A bounded wait on a condition,
/// never a sleep on a guess.
func waitUntil(timeout: Duration, _ condition: () throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while try !condition() {
        guard ContinuousClock.now < deadline else { return false }
        try await Task.sleep(for: .milliseconds(10))
    }
    return true
}
