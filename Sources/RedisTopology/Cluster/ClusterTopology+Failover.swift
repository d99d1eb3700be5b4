import RedisClient

extension ClusterTopology {
    /// Fails the shard of the node on `port` (its primary or a replica) over with `CLUSTER FAILOVER` on a replica,
    /// once the cluster is stable (see ``waitUntilStable(timeout:)``); returns the replica's port once it serves the
    /// shard's slots as every running node reports, the old primary is its replica with the link up, and the cluster
    /// is stable. `timeout` bounds the whole. Redis abandons a manual failover that has not completed within 5 s (a
    /// primary too slow to hand over); the request is then sent again.
    @discardableResult
    public func failover(shardOf port: Int, timeout: Duration = .seconds(30)) async throws(TopologyError) -> Int {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        let shards = try await waitUntilStable(timeout: timeout)
        guard let shard = shards.first(where: { $0.contains(port: port) }) else {
            throw TopologyError("\(port) is in no shard: \(shards)")
        }
        guard let replica = shard.replicaPorts.lazy.compactMap({ self.node(port: $0) }).first(where: \.isRunning) else {
            throw TopologyError("the shard of \(port) has no running replica: \(shard)")
        }
        try await send(replica, "CLUSTER", "FAILOVER")
        var requested = ContinuousClock.now
        try await TopologyError.wrapping("failing over the shard of \(port)") {
            try await poll("\(replica.port) serves the slots of \(shard.primaryPort)", timeout: deadline - .now) {
                () async throws -> Check<Void> in
                if ContinuousClock.now - requested > Self.manualFailoverTimeout,
                    try await view(of: replica).myself?.isReplica == true
                {
                    try await send(replica, "CLUSTER", "FAILOVER")
                    requested = .now
                }
                let check = try await stability()
                guard case .met(let now) = check else { return check.map { _ in () } }
                guard let promoted = now.first(where: { $0.primaryPort == replica.port }),
                    promoted.slots == shard.slots,
                    promoted.replicaPorts.contains(shard.primaryPort)
                else { return .unmet("the shards are \(now)") }
                return .met(())
            }
        }
        return replica.port
    }

    /// How long Redis lets a manual failover take before it abandons it (`CLUSTER_MF_TIMEOUT`).
    static let manualFailoverTimeout = Duration.seconds(5)

    /// Kills the primary on `port` (`SIGKILL`, as a crash would) and returns once it has been reaped. Its replica
    /// takes over about twice ``Options/nodeTimeout`` later (see ``waitForNewPrimary(replacing:timeout:)``); the
    /// node stays down until ``restart(port:timeout:)``.
    public func crashPrimary(port: Int) async throws(TopologyError) {
        let node = try requireNode(port: port)
        guard let myself = try await view(of: node).myself, myself.isPrimary else {
            throw TopologyError("\(port) is not a primary")
        }
        recordKilled(primary: port, slots: myself.slots)
        try await TopologyError.wrapping("killing \(port)") { try await node.kill() }
    }

    /// Waits until a replica of the primary on `port`, killed by ``crashPrimary(port:)``, serves its slots as every
    /// running node reports, and the cluster is stable again (see ``waitUntilStable(timeout:)``); its port.
    public func waitForNewPrimary(
        replacing port: Int,
        timeout: Duration = .seconds(30)
    ) async throws(TopologyError) -> Int {
        guard let slots = killedSlots(ofPrimary: port), let slot = slots.first?.lowerBound else {
            throw TopologyError("\(port) was not a primary with slots when crashPrimary(port:) killed it")
        }
        return try await TopologyError.wrapping("waiting for a replacement of \(port)") {
            try await poll("another node serves the slots of \(port)", timeout: timeout) {
                () async throws -> Check<Int> in
                let check = try await stability()
                guard case .met(let shards) = check else { return check.map { _ in 0 } }
                guard let shard = shards.first(where: { $0.contains(slot: slot) }), shard.primaryPort != port else {
                    return .unmet("the shards are \(shards)")
                }
                return .met(shard.primaryPort)
            }
        }
    }
}
