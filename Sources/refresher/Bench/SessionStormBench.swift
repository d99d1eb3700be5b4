import Foundation

/// Many sessions expiring in the same second, with worker processes (`refresher _sessions`) that each serve every
/// session over one set of connections and have callers for every session.
///
/// The run: the workers make their refreshers and listen; the sessions are logged in at
/// ``SessionsIdentityProvider`` with access tokens that expire at one instant T (a whole second) and stored with that
/// expiry; the workers load them; at T every caller gets a 401 and asks its refresher for fresh credentials.
/// Commands are counted from just before T until the last worker reported.
struct SessionStormBench {
    let redisURL: String
    let refreshLatency: Duration

    func run(sessions count: Int, processes: Int, callers: Int) async throws -> SessionStormResult {
        let began = ContinuousClock.now
        let run = try await SessionStormRun(redisURL: redisURL, sessions: count, refreshLatency: refreshLatency)
        let outcome: Result<SessionStormResult, any Error>
        do {
            outcome = .success(try await run.storm(processes: processes, callers: callers))
        } catch {
            outcome = .failure(error)
        }
        await run.finish()
        var result = try outcome.get()
        result.runSeconds = (ContinuousClock.now - began).seconds
        return result
    }
}
