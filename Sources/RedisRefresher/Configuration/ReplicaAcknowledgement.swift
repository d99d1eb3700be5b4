import RedisClient

/// How many replicas must acknowledge the holder's writes, and how long the holder waits for them (`WAIT`).
///
/// With replicas behind a primary (Redis Sentinel), a write the primary acknowledged can still be lost when it fails
/// before replicating it. With acknowledgement on, the holder:
/// - presents the refresh token only once `replicas` replicas hold its lock and its attempt record; otherwise it
///   takes both back, backs off and competes again (nothing was presented);
/// - after storing the new session, keeps the new tokens until `replicas` replicas hold them (or a newer session is
///   seen), and stores them again on a new primary that lost them.
///
/// A primary with fewer connected replicas than `replicas` never acknowledges: no refresh happens and callers fail by
/// their deadline with an error that says so. Acknowledgement costs one replication round trip per lock and per
/// commit.
public struct ReplicaAcknowledgement: Sendable, Hashable {
    /// How many replicas must acknowledge; 0 turns acknowledgement off.
    public var replicas: Int
    /// How long one `WAIT` may take.
    public var timeout: Duration
    /// On a Redis Cluster: whether writes to a shard whose slot-map entry lists no replica skip the wait (such a shard
    /// cannot fail over, so there is nothing to wait for). Off, a shard without replicas never acknowledges.
    public var skipsShardsWithoutReplicas: Bool

    /// Waits for `replicas` replicas, at most `timeout` per write.
    public init(replicas: Int, timeout: Duration = .seconds(1), skipsShardsWithoutReplicas: Bool = false) {
        self.replicas = replicas
        self.timeout = timeout
        self.skipsShardsWithoutReplicas = skipsShardsWithoutReplicas
    }

    /// No acknowledgement: the primary's answer is enough.
    public static let off = ReplicaAcknowledgement(replicas: 0, timeout: .zero)

    /// Whether writes wait for replicas.
    public var isOn: Bool { replicas > 0 }

    /// The default for a Redis setup: one replica within 1 s behind Sentinel; on a Redis Cluster one replica within
    /// 1 s on every shard that has one; off otherwise (a single node has no replica to wait for).
    public static func automatic(for redis: RedisConfiguration) -> ReplicaAcknowledgement {
        if redis.sentinel != nil { return ReplicaAcknowledgement(replicas: 1, timeout: .seconds(1)) }
        if redis.cluster != nil {
            return ReplicaAcknowledgement(replicas: 1, timeout: .seconds(1), skipsShardsWithoutReplicas: true)
        }
        return .off
    }

    func validate() throws(RefresherError) {
        guard (0...64).contains(replicas) else {
            throw RefresherError(.invalidConfiguration, "replicaAcknowledgement.replicas must be 0...64")
        }
        guard !isOn || (timeout >= .milliseconds(1) && timeout <= .seconds(10)) else {
            throw RefresherError(.invalidConfiguration, "replicaAcknowledgement.timeout must be 1 ms...10 s")
        }
    }

    /// `WAIT replicas timeout-ms`.
    var command: RedisCommand {
        RedisCommand("WAIT", RedisArgument(replicas), RedisArgument(max(1, timeout.wholeMilliseconds)))
    }
}
