import Foundation

/// One JSON line a `refresher _sessions` worker writes on standard output, at the end of each phase.
struct SessionsWorkerLine: Codable, Sendable {
    enum Phase: String, Codable, Sendable {
        /// Every refresher made and listening for its session's events (nothing loaded yet).
        case ready
        /// Every session's credentials loaded into memory.
        case loaded
        /// The storm is over: ``storm`` holds what each session's callers saw.
        case stormed
        /// Shut down (idle mode: ``reads`` holds the reads served while idle).
        case done
    }

    var phase: Phase
    /// Resident set size at the end of the phase, kB.
    var residentKB: Int
    /// User and system CPU time used so far, seconds.
    var cpuSeconds: Double?
    /// Resident set size with the shared connections up and no refresher yet, kB (in the `ready` line).
    var baseResidentKB: Int?
    /// Seconds from the baseline until every refresher was made, and until every one listened (in the `ready` line).
    var madeSeconds: Double?
    var listeningSeconds: Double?
    /// Per session, by index (in the `stormed` line).
    var storm: [SessionTally]?
    /// The callers' errors by kind (in the `stormed` line).
    var errors: [String: Int]?
    /// `credentials()` calls made while idle (in the `done` line).
    var reads: Int?

    var json: String {
        String(decoding: (try? JSONEncoder().encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }
}

/// What one worker's callers of one session saw in a storm: Unix times in seconds.
struct SessionTally: Codable, Sendable {
    /// The first and the last 401 of this session's callers in this process.
    var first401: Double?
    var last401: Double?
    /// When the refresh their fresh credentials came from was stored (Redis's clock, `refreshed_at`).
    var refreshStored: Double?
    /// The last of them served (200 after the refresh).
    var lastServed: Double?
    var callers = 0
    var served = 0
    /// Whether this process performed the session's refresh (its lock acquisition stored it).
    var refreshedHere = false

    mutating func merge(_ other: SessionTally) {
        first401 = [first401, other.first401].compactMap { $0 }.min()
        last401 = [last401, other.last401].compactMap { $0 }.max()
        refreshStored = refreshStored ?? other.refreshStored
        lastServed = [lastServed, other.lastServed].compactMap { $0 }.max()
        callers += other.callers
        served += other.served
        refreshedHere = refreshedHere || other.refreshedHere
    }
}
