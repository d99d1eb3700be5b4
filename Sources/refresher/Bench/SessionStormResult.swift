/// The measurements of one sessions storm: N sessions whose tokens all expire in the same second, P worker processes
/// with callers for every session.
struct SessionStormResult: Codable, Sendable {
    var sessions: Int
    var processes: Int
    /// Callers per session in each process.
    var callersPerSession: Int
    /// Refreshes the identity provider performed, and how many sessions it refreshed exactly once.
    var refreshes: Int
    var sessionsRefreshedOnce: Int
    /// Used refresh tokens presented again (each revoked its session).
    var reuseEvents: Int
    /// Refreshes the workers say they performed (their lock acquisition stored the credentials their callers got).
    var refreshesByWorkers: Int
    var callersServed: Int
    var callersTotal: Int
    /// The callers' errors by kind.
    var errors: [String: Int]
    /// First 401 of any session → last caller of any session served, ms.
    var stormMs: Double?
    /// First 401 → last 401 of any session, ms: how long the fleet's first requests took to come back.
    var unauthorizedSpreadMs: Double?
    /// Per session: its first 401 (in any process) → its refresh stored, ms.
    var sessionRefreshP50Ms: Double?
    var sessionRefreshP99Ms: Double?
    /// Per session: its first 401 (in any process) → its last caller served (in any process), ms.
    var sessionStormP50Ms: Double?
    var sessionStormP99Ms: Double?
    var sessionStormMaxMs: Double?
    /// Commands the servers executed from just before the storm instant to the last caller's report (the commands
    /// that scripts ran included; ``RedisCommandCounter``), in all and per session.
    var redisCommands: Int
    var redisCommandsPerSession: Double
    /// CPU time used for the storm per session, ms: by the Redis servers, by the worker processes together, and by
    /// the benchmark's own process (the identity provider's HTTP server, nearly all of it). With ``stormMs`` they
    /// show how busy the machine's cores were.
    var redisCPUMsPerSession: Double
    var workerCPUMsPerSession: Double
    var driverCPUMsPerSession: Double
    /// `EVALSHA` round trips per session.
    var scriptCallsPerSession: Double
    var commandBreakdown: [String: Int]
    /// Commands executed while the workers made their refreshers (before anything was loaded), per session and
    /// process.
    var setupCommandsPerSessionPerProcess: Double
    var setupCommandBreakdown: [String: Int]
    /// Per process, averaged: resident memory with the shared connections and no session, MB; growth per session
    /// with every session made, listening and loaded, KB; and growth per session after the storm, KB.
    var baseResidentMB: Double
    var residentKBPerSession: Double
    var residentKBPerSessionAfterStorm: Double
    /// How many nodes the commands were counted on.
    var nodes: Int
    /// Seconds until every process had made its refreshers and each listened (the slowest process).
    var setupSeconds: Double
    /// Whether every process had loaded every session before the storm instant.
    var barrierHeld: Bool
    /// Wall time of the whole run, processes started and stopped included, s.
    var runSeconds: Double

    /// Correct means: every session refreshed exactly once, no reuse, every caller served.
    var correct: Bool {
        refreshes == sessions && sessionsRefreshedOnce == sessions && reuseEvents == 0 && callersServed == callersTotal
    }
}
