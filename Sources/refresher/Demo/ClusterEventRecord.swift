import DemoIdentityProvider

/// What the cluster demo did to its cluster during the run, and when: a failover of the first session's shard or
/// the move of its slot to another primary.
struct ClusterEventRecord: Sendable {
    /// What was done.
    enum Kind: String, Sendable, Codable {
        /// `CLUSTER FAILOVER` on a replica of the shard: the replica takes over, the primary becomes its replica.
        case failover
        /// `kill -9` of the shard's primary; a replica takes over, and the old primary is restarted as a replica.
        case kill
        /// The slot and its keys moved to another primary (`CLUSTER SETSLOT … MIGRATING/IMPORTING`, `MIGRATE`,
        /// `CLUSTER SETSLOT … NODE`).
        case migration

        /// What it does, for the demo's output.
        var action: String {
            switch self {
            case .failover: "CLUSTER FAILOVER on a replica of the shard"
            case .kill: "kill -9 of the shard's primary, restarted once a replica took over"
            case .migration: "the slot moved to another primary"
            }
        }
    }

    var kind: Kind
    /// The first session's slot.
    var slot: Int
    /// Unix time at which it began.
    var startedAt: Double
    var statsAtStart: DemoIdentityProvider.Stats
    /// The primary that served the slot before.
    var fromPort: Int?
    /// The primary that serves it after.
    var toPort: Int?
    /// Unix time at which every node reported the new primary of the slot.
    var finishedAt: Double?
    var statsAtFinish: DemoIdentityProvider.Stats?
    /// Why it did not complete.
    var failure: String?
}
