extension ClusterTopology {
    /// Kills the shard of the node on `port`, its primary and every replica (`SIGKILL`), and returns their ports,
    /// the primary's first, once every running node reports `cluster_state:fail`: its slots are served by no one,
    /// and every node answers `CLUSTERDOWN`. ``restart(ports:timeout:)`` brings the shard back.
    ///
    /// The others flag the primary failing about ``Options/nodeTimeout`` after the kill, once a majority of the
    /// primaries agree: it takes at least three primaries.
    @discardableResult
    public func stopShard(of port: Int, timeout: Duration = .seconds(30)) async throws(TopologyError) -> [Int] {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        let shards = try await self.shards(timeout: timeout)
        guard let shard = shards.first(where: { $0.contains(port: port) }) else {
            throw TopologyError("\(port) is in no shard: \(shards)")
        }
        let ports = [shard.primaryPort] + shard.replicaPorts
        let stopped = try ports.map { port throws(TopologyError) in try requireNode(port: port) }
        recordKilled(primary: shard.primaryPort, slots: shard.slots)
        try await TopologyError.wrapping("stopping the shard of \(port)") {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for node in stopped { group.addTask { try await node.kill() } }
                try await group.waitForAll()
            }
            try await poll("every running node reports cluster_state:fail", timeout: deadline - .now) {
                () async throws -> Check<Void> in
                for node in liveNodes {
                    let state = try await clusterState(of: node)
                    guard state == "fail" else { return .unmet("\(node.port) reports cluster_state:\(state)") }
                }
                return .met(())
            }
        }
        return ports
    }

    /// Starts the killed node on `port` again (a running one is killed first) from its configuration file (its cluster
    /// configuration file keeps its ID and what it knew) and returns once the cluster is stable (see ``waitUntilStable(timeout:)``). A primary
    /// whose replica took over comes back as that replica's replica.
    public func restart(port: Int, timeout: Duration = .seconds(30)) async throws(TopologyError) {
        try await restart(ports: [port], timeout: timeout)
    }

    /// Starts the killed nodes on `ports` again side by side (a whole shard stopped by ``stopShard(of:timeout:)``)
    /// and returns once the cluster is stable. A restarted primary serves again about 2 s after its start.
    public func restart(ports: [Int], timeout: Duration = .seconds(30)) async throws(TopologyError) {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        let restarted = try ports.map { port throws(TopologyError) in try requireNode(port: port) }
        try await startNodes(restarted, timeout: timeout)
        try await waitUntilStable(timeout: deadline - .now)
    }
}
