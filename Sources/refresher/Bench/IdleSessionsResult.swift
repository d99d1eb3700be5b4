/// The measurements of many idle sessions in one process: fresh tokens, nothing expiring during the window.
struct IdleSessionsResult: Codable, Sendable {
    var sessions: Int
    var windowSeconds: Double
    /// Resident memory with the shared connections and no session, MB; growth per session with every session made,
    /// listening and loaded, KB.
    var baseResidentMB: Double
    var residentKBPerSession: Double
    /// Commands executed while the process made its refreshers, per session.
    var setupCommandsPerSession: Double
    var setupCommandBreakdown: [String: Int]
    /// Commands executed during the window (the commands that scripts ran included), per session per minute, and
    /// in all per minute.
    var redisCommands: Int
    var redisCommandsPerSessionPerMinute: Double
    var redisCommandsPerMinute: Double
    var commandBreakdown: [String: Int]
    /// CPU time used during the window, ms per minute: by the Redis servers, and by the worker process (which reads
    /// every session once a second).
    var redisCPUMsPerMinute: Double
    var workerCPUMsPerMinute: Double
    /// `credentials()` calls from loading until the end (every session once a second, the window and a moment around
    /// it): served from memory unless the window's commands say otherwise.
    var reads: Int
    /// How many nodes the commands were counted on.
    var nodes: Int
    /// Seconds from the process's start until every session was made, listening and loaded; of them, making the
    /// refreshers, and until every one listened.
    var setupSeconds: Double
    var makeSeconds: Double
    var listeningSeconds: Double
}
