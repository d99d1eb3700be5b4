import RedisClient

extension ClusterTopology {
    /// The configuration lines that make a data node a cluster node, after the defaults of ``RedisNodeProcess``
    /// (loopback only, no persistence: `save ""`, `appendonly no`):
    /// - its cluster configuration file in `directory`, which keeps its ID and its view of the cluster across
    ///   restarts, and a bus port of its own (`cluster-port`) rather than the data port + 10000;
    /// - `cluster-announce-ip 127.0.0.1`, so that it reports its address before a peer has told it;
    /// - `cluster-replica-validity-factor 0`: a replica may take over however long its link was down, and
    ///   `cluster-allow-replica-migration no`: replicas stay with their primary (and a primary whose slots all
    ///   moved away stays a primary), so that the layout changes only when a test changes it;
    /// - `cluster-require-full-coverage yes`: with a slot unserved, every node answers `CLUSTERDOWN`;
    /// - notice-level logging: the cluster's events (state changes, elections) explain a failed wait.
    static func nodeConfiguration(_ options: Options, port: Int, busPort: Int, directory: String) -> [String] {
        [
            "loglevel notice",
            "cluster-enabled yes",
            "cluster-config-file \(RedisNodeProcess.quoted("\(directory)/cluster-nodes-\(port).conf"))",
            "cluster-port \(busPort)",
            "cluster-node-timeout \(milliseconds(options.nodeTimeout))",
            "cluster-announce-ip 127.0.0.1",
            "cluster-replica-validity-factor 0",
            "cluster-allow-replica-migration no",
            "cluster-require-full-coverage yes",
        ] + options.configuration
    }

    /// The slots of primary `index` of `count`: even consecutive ranges that cover all 16384 slots.
    static func slotRange(ofPrimary index: Int, of count: Int) -> ClosedRange<Int> {
        (index * HashSlot.count / count)...((index + 1) * HashSlot.count / count - 1)
    }

    /// Whole milliseconds, at least 1.
    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return max(1, seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }
}
