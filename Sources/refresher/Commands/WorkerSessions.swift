import Logging
import RedisRefresher

/// The sessions one worker process serves: a refresher and an HTTP client for each, and the credentials each had at
/// start. One session gets connections of its own, as an application with one session would; several share one set
/// of ``RefresherConnections``, as an application with many tenants would.
struct WorkerSessions: Sendable {
    /// One session's refresher and HTTP side.
    struct Member: Sendable {
        let refresher: RedisRefresher
        let http: DemoHTTP
        let initial: Credentials
    }

    let members: [Member]
    /// The connections the refreshers share, with several sessions.
    let shared: RefresherConnections?

    /// Starts a refresher for each of `sessions` (`configuration` with its session name), each refreshing at
    /// `identityProviderURL` with `{session}` replaced by the session's name, and reads each session's credentials.
    /// On failure, whatever was started is shut down.
    static func start(
        sessions: [String],
        configuration: RefresherConfiguration,
        identityProviderURL: String,
        httpConnections: Int,
        logger: Logger
    ) async throws -> WorkerSessions {
        let shared = sessions.count > 1 ? try RefresherConnections(url: configuration.redisURL, logger: logger) : nil
        var members: [Member] = []
        for name in sessions {
            let http = DemoHTTP(
                baseURL: identityProviderURL.replacingOccurrences(of: "{session}", with: name),
                connections: httpConnections
            )
            var session = configuration
            session.session = name
            do {
                let refresher = try await RedisRefresher(
                    configuration: session,
                    connections: shared,
                    logger: logger,
                    refresh: http.refreshFunction
                )
                do {
                    members.append(Member(refresher: refresher, http: http, initial: try await refresher.credentials()))
                } catch {
                    await refresher.shutdown()
                    throw error
                }
            } catch {
                // The HTTP clients must be shut down on every path (AsyncHTTPClient traps otherwise).
                await http.shutdown()
                await WorkerSessions(members: members, shared: shared).shutdown(gracePeriod: nil)
                throw error
            }
        }
        return WorkerSessions(members: members, shared: shared)
    }

    /// Shuts every refresher down (`nil`: each one's configured grace period), then the shared connections and the
    /// HTTP clients.
    func shutdown(gracePeriod: Duration?) async {
        for member in members { await member.refresher.shutdown(gracePeriod: gracePeriod) }
        await shared?.shutdown(gracePeriod: gracePeriod ?? .seconds(5))
        for member in members { await member.http.shutdown() }
    }
}
