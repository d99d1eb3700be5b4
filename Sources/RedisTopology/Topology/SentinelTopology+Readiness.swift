import RedisClient

extension SentinelTopology {
    /// Waits until the topology is ready for a failover and returns the primary's port:
    /// - of the data nodes that run (and are not paused), exactly one reports `ROLE` master, and every other one is
    ///   its replica with the replication link up (a sentinel would promote a node that still says it is a primary
    ///   as readily as a replica, and a failover to it goes wrong);
    /// - every running sentinel reports that node as the primary with flags `master` only (not down, no failover in
    ///   progress), knows each of those replicas as a healthy replica (`slave`, not down or disconnected, its `INFO`
    ///   read at least once: a sentinel promotes only replicas whose `INFO` it has), and sees each other running
    ///   sentinel connected and not down.
    ///
    /// A sentinel reads a replica's `INFO` every 10 s, so its view of a replica's role and link may lag the node's
    /// own `ROLE` by that much; the node's `ROLE` is what a failover depends on, so that is what is checked.
    /// Nodes killed and not restarted are left out, as are sentinels stopped with ``stopSentinel(_:)``.
    @discardableResult
    public func waitUntilReady(timeout: Duration = .seconds(30)) async throws -> Int {
        try await poll("\(primaryName) is ready for a failover", timeout: timeout) { try await readiness() }
    }

    /// The port of the primary as a majority of the sentinels report it (`SENTINEL GET-MASTER-ADDR-BY-NAME`), once
    /// the node there answers `ROLE` as master; waits up to `timeout` for that.
    public func primaryPort(timeout: Duration = .seconds(10)) async throws -> Int {
        try await poll("a majority of sentinels report a primary that says it is one", timeout: timeout) {
            try await agreedPrimary(notOn: nil)
        }
    }

    /// The primary data node; see ``primaryPort(timeout:)``.
    public func primary(timeout: Duration = .seconds(10)) async throws -> RedisNodeProcess {
        let port = try await primaryPort(timeout: timeout)
        guard let node = node(port: port) else { throw TopologyError("the sentinels report an unknown node \(port)") }
        return node
    }

    /// Waits until a majority of the sentinels report a primary other than the node on `oldPort`, and that node
    /// answers `ROLE` as master; its port.
    public func waitForNewPrimary(notOn oldPort: Int, timeout: Duration = .seconds(30)) async throws -> Int {
        try await poll("a majority of sentinels report a primary other than \(oldPort)", timeout: timeout) {
            try await agreedPrimary(notOn: oldPort)
        }
    }

    /// What each running sentinel answers to `SENTINEL GET-MASTER-ADDR-BY-NAME`, by sentinel port; `nil` for a
    /// sentinel that did not answer.
    public func reportedPrimaries() async -> [Int: NodeAddress?] {
        var reported: [Int: NodeAddress?] = [:]
        for sentinel in running(sentinels) {
            reported[sentinel.port] = try? await reportedPrimary(by: sentinel)
        }
        return reported
    }

    /// The sentinels and data nodes whose processes run and are not paused.
    func running(_ processes: [RedisNodeProcess]) -> [RedisNodeProcess] {
        processes.filter { $0.isRunning && !$0.isPaused }
    }

    private func reportedPrimary(by sentinel: RedisNodeProcess) async throws -> NodeAddress {
        let reply = try await sentinel.send("SENTINEL", "GET-MASTER-ADDR-BY-NAME", RedisArgument(primaryName))
        guard let items = reply.array, items.count == 2, let host = items[0].string, let port = items[1].int else {
            throw TopologyError("sentinel \(sentinel.port) does not know \(primaryName): \(reply)")
        }
        return NodeAddress(host: host, port: Int(port))
    }

    /// The primary a majority of sentinels report, if it is not on `excluded` and says it is a primary.
    private func agreedPrimary(notOn excluded: Int?) async throws -> Check<Int> {
        var votes: [Int: Int] = [:]
        for (_, address) in await reportedPrimaries() {
            if let address { votes[address.port, default: 0] += 1 }
        }
        let summary = votes.map { "\($0.key): \($0.value)" }.sorted().joined(separator: ", ")
        guard let (port, count) = votes.max(by: { $0.value < $1.value }), count >= quorum else {
            return .unmet("no majority of \(quorum) sentinels on a primary (\(summary))")
        }
        guard port != excluded else { return .unmet("the sentinels still report \(port)") }
        guard let node = node(port: port) else { return .unmet("the sentinels report an unknown node \(port)") }
        let role = try await node.role()
        guard role.isPrimary else { return .unmet("the sentinels report \(port), which is a \(role)") }
        return .met(port)
    }

    /// One check of ``waitUntilReady(timeout:)``.
    private func readiness() async throws -> Check<Int> {
        let dataNodes = running(nodes)
        var primaries: [RedisNodeProcess] = []
        var roles: [Int: NodeRole] = [:]
        for node in dataNodes {
            let role = try await node.role()
            roles[node.port] = role
            if role.isPrimary { primaries.append(node) }
        }
        guard primaries.count == 1, let primary = primaries.first else {
            return .unmet("\(primaries.count) data nodes report ROLE master: \(roles)")
        }
        let replicas = dataNodes.filter { $0.port != primary.port }
        for replica in replicas where roles[replica.port] != .replica(of: primary.address, linkUp: true) {
            return .unmet("\(replica.port) is a \(roles[replica.port].map(String.init(describing:)) ?? "?")")
        }
        let runningSentinels = running(sentinels)
        for sentinel in runningSentinels {
            let name = RedisArgument(primaryName)
            let master = try SentinelFields(try await sentinel.send("SENTINEL", "MASTER", name))
            guard master.port == primary.port, master.flags == ["master"] else {
                return .unmet("sentinel \(sentinel.port) reports \(master)")
            }
            let known = try SentinelFields.entries(try await sentinel.send("SENTINEL", "REPLICAS", name))
            for replica in replicas {
                guard let entry = known.first(where: { $0.port == replica.port }), entry.isHealthy,
                    entry.flags.contains("slave"), entry.hasInfo
                else {
                    let entry = known.first { $0.port == replica.port }
                    return .unmet(
                        "sentinel \(sentinel.port) reports replica \(replica.port) as \(entry?.description ?? "unknown")"
                    )
                }
            }
            let peers = try SentinelFields.entries(try await sentinel.send("SENTINEL", "SENTINELS", name))
            for peer in runningSentinels where peer.port != sentinel.port {
                guard let entry = peers.first(where: { $0.port == peer.port }), entry.isHealthy else {
                    let entry = peers.first { $0.port == peer.port }
                    return .unmet(
                        "sentinel \(sentinel.port) reports sentinel \(peer.port) as \(entry?.description ?? "unknown")"
                    )
                }
            }
        }
        return .met(primary.port)
    }
}
