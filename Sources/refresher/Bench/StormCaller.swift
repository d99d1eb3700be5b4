import Foundation
import RedisRefresher

/// One caller of one session in the sessions storm: at the storm instant, `GET /resource` with the credentials it
/// holds (expired then), a 401, fresh credentials through the refresher, `GET /resource` again.
struct StormCaller: Sendable {
    let refresher: RedisRefresher
    let http: DemoHTTP
    /// The credentials in memory before the storm.
    let stale: Credentials

    /// What one caller saw: Unix times in seconds.
    struct Outcome: Sendable {
        var t401: Double?
        /// When the refresh the fresh credentials came from was stored (`refreshed_at`, Redis's clock).
        var refreshStored: Double?
        var served: Double?
        /// Whether this process's lock acquisition stored the credentials the caller got.
        var refreshedHere = false
        /// A short kind (`HTTP 401 after refresh`, a refresher error code, ...), never a token.
        var error: String?
    }

    func call(start: Double, deadline: Double) async -> Outcome {
        var outcome = Outcome()
        do {
            try await sleep(untilUnix: start)
            let first = try await http.resource(accessToken: stale.accessToken)
            guard first == 401 else {
                outcome.error = "HTTP \(first) before refresh"
                return outcome
            }
            outcome.t401 = unixSeconds()
            let fresh = try await freshCredentials(deadline: deadline)
            outcome.refreshedHere = refresher.connections.owns(fresh.refreshedBy ?? "")
            outcome.refreshStored = fresh.refreshedAtMilliseconds.map { Double($0) / 1000 }
            let second = try await http.resource(accessToken: fresh.accessToken)
            if second == 200 {
                outcome.served = unixSeconds()
            } else {
                outcome.error = "HTTP \(second) after refresh"
            }
        } catch let error as RefresherError {
            outcome.error = "\(error.code)"
        } catch {
            outcome.error = WorkerSummary.errorKind(error)
        }
        return outcome
    }

    /// Fresh credentials after ``stale``, trying again after a retryable error while the deadline allows, as an
    /// application would.
    private func freshCredentials(deadline: Double) async throws -> Credentials {
        while true {
            let remaining = max(deadline - unixSeconds(), 0.001)
            let failure: RefresherError
            do {
                return try await refresher.refreshAccessTokenOrReLogin(
                    after: stale,
                    timeout: .milliseconds(Int64(remaining * 1000))
                )
            } catch {
                failure = error
            }
            guard failure.isRetryable, failure.code != .timeout, deadline - unixSeconds() > 0.2 else { throw failure }
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}
