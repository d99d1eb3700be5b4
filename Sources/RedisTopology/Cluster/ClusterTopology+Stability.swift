import RedisClient

extension ClusterTopology {
    /// Waits until the cluster is stable and returns its shards, in slot order. Of the nodes that run:
    /// - every one reports `cluster_state:ok`;
    /// - every one knows every other as healthy (not failing, no handshake, bus link up) and has no slot migration
    ///   in progress;
    /// - all agree on who serves which slot, on every node's role, and on each primary's configuration epoch;
    /// - every slot is served by a node that runs, and every replica has its replication link up.
    ///
    /// Nodes killed and not restarted are left out (they may still be listed, as failing).
    @discardableResult
    public func waitUntilStable(timeout: Duration = .seconds(30)) async throws(TopologyError) -> [ClusterShard] {
        try await TopologyError.wrapping("waiting for a stable cluster") {
            try await poll("the cluster is stable", timeout: timeout) { try await stability() }
        }
    }

    /// The shards as the running nodes agree on them (who serves which slot), in slot order; waits up to `timeout`
    /// for them to agree. Unlike ``waitUntilStable(timeout:)``, a shard whose nodes are all down counts (as
    /// during ``stopShard(of:timeout:)``).
    public func shards(timeout: Duration = .seconds(10)) async throws(TopologyError) -> [ClusterShard] {
        try await agreedView(timeout: timeout).shards
    }

    /// The ports of the primaries, ordered by their first slot, as the running nodes agree (see
    /// ``shards(timeout:)``).
    public var primaryPorts: [Int] {
        get async throws(TopologyError) {
            try await shards().map(\.primaryPort)
        }
    }

    /// The port of the primary that serves `slot`, as the running nodes agree.
    public func primaryPort(forSlot slot: Int) async throws(TopologyError) -> Int {
        guard (0..<HashSlot.count).contains(slot) else { throw TopologyError("slot \(slot) is not in 0...16383") }
        guard let owner = try await agreedView(timeout: .seconds(10)).owner(ofSlot: slot) else {
            throw TopologyError("no node serves slot \(slot)")
        }
        return owner.port
    }

    /// The `CLUSTER NODES` of a running node once every running node reports the same slot map.
    func agreedView(timeout: Duration) async throws(TopologyError) -> ClusterView {
        try await TopologyError.wrapping("reading the slot map") {
            try await poll("the nodes agree on the slot map", timeout: timeout) {
                () async throws -> Check<ClusterView> in
                let views = try await liveViews()
                guard let reference = views.first else { return .unmet("no node runs") }
                for (node, view) in views.dropFirst() where view.slotOwners != reference.view.slotOwners {
                    return .unmet(
                        "\(node.port) reports \(view.slotOwners), \(reference.node.port) \(reference.view.slotOwners)"
                    )
                }
                return .met(reference.view)
            }
        }
    }

    /// The `CLUSTER NODES` of every node that runs.
    func liveViews() async throws(TopologyError) -> [(node: RedisNodeProcess, view: ClusterView)] {
        var views: [(node: RedisNodeProcess, view: ClusterView)] = []
        for node in liveNodes { views.append((node, try await view(of: node))) }
        return views
    }

    /// One check of ``waitUntilStable(timeout:)``.
    func stability() async throws(TopologyError) -> Check<[ClusterShard]> {
        let live = liveNodes
        let livePorts = Set(live.map(\.port))
        var views: [(node: RedisNodeProcess, view: ClusterView)] = []
        for node in live {
            let state = try await clusterState(of: node)
            guard state == "ok" else { return .unmet("\(node.port) reports cluster_state:\(state)") }
            views.append((node, try await view(of: node)))
        }
        guard let reference = views.first else { return .unmet("no node runs") }
        for (node, view) in views {
            guard let myself = view.myself, myself.migrating.isEmpty, myself.importing.isEmpty else {
                return .unmet("\(node.port) migrates slots: \(view.myself?.description ?? "no own line")")
            }
            for other in live where other !== node {
                guard let line = view.line(id: nodeID(port: other.port) ?? ""), line.isHealthy else {
                    let seen = view.line(port: other.port)?.description ?? "unknown"
                    return .unmet("\(node.port) sees \(other.port) as \(seen)")
                }
            }
            guard view.slotOwners == reference.view.slotOwners else {
                return .unmet(
                    "\(node.port) reports \(view.slotOwners), \(reference.node.port) \(reference.view.slotOwners)"
                )
            }
            for port in livePorts {
                let line = view.line(port: port)
                let expected = reference.view.line(port: port)
                guard line?.roleText == expected?.roleText,
                    line?.isPrimary != true || line?.configEpoch == expected?.configEpoch
                else {
                    return .unmet(
                        "\(node.port) sees \(line?.description ?? "nothing") where \(reference.node.port) sees "
                            + (expected?.description ?? "nothing")
                    )
                }
            }
        }
        for owner in reference.view.slotOwners where !livePorts.contains(owner.port) {
            return .unmet("slots \(owner) are served by a node that does not run")
        }
        for node in live {
            guard let line = reference.view.line(port: node.port), line.isReplica else { continue }
            guard let primary = reference.view.line(id: line.primaryID ?? "") else {
                return .unmet("\(reference.node.port) does not know the primary of \(node.port)")
            }
            let role = try await TopologyError.wrapping("ROLE on \(node.port)") { try await node.role() }
            guard role == .replica(of: NodeAddress(port: primary.port), linkUp: true) else {
                return .unmet("\(node.port) is a \(role), not a synchronised replica of \(primary.port)")
            }
        }
        return .met(reference.view.shards)
    }
}
