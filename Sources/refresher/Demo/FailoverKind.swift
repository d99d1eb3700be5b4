import ArgumentParser

/// How the demo fails its Sentinel topology's primary over.
enum FailoverKind: String, CaseIterable, Codable, Sendable, ExpressibleByArgument {
    /// `SENTINEL FAILOVER`: the sentinels promote a replica and demote the primary, which stays up.
    case forced
    /// `kill -9` of the primary: the sentinels promote a replica once it has been down for `down-after-milliseconds`;
    /// then the old primary is restarted, as a supervisor would, and the sentinels make it a replica.
    case kill
    /// `SIGSTOP` of the primary until the sentinels have promoted a replica, then `SIGCONT`: the old primary comes
    /// back believing it is the primary, until the sentinels demote it.
    case pause

    /// What it does, for the demo's output.
    var action: String {
        switch self {
        case .forced: "SENTINEL FAILOVER"
        case .kill: "kill -9 of the primary, restarted once a replica is promoted"
        case .pause: "SIGSTOP of the primary, SIGCONT once a replica is promoted"
        }
    }
}
