import RedisClient

extension SentinelTopology {
    /// Waits until the topology is ready for a failover and returns the primary's port:
    /// - of the data nodes that run (and are not paused), exactly one reports `ROLE` master, and every other one is
    ///   its replica with the replication link up;
    /// - every running sentinel reports that node as the primary with flags `master` only (not down, no failover in
    ///   progress); sees each of those replicas as a healthy replica (flags `slave`, not down or disconnected) whose
    ///   last `INFO` said it is a replica of that primary with its link up; and sees each other running sentinel
    ///   connected and not down.
    ///
    /// The sentinels' view matters as much as the nodes': a sentinel promotes a replica whatever role it last
    /// reported, and one that still remembers a just-demoted node as a primary demotes it again, right after another
    /// sentinel promoted it, which aborts that failover. A sentinel reads a replica's `INFO` once per
    /// ``SentinelPeriods/info`` period, so this can take that much longer than the nodes' own `ROLE`.
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
                let entry = known.first { $0.port == replica.port }
                guard let entry, entry.isHealthyReplica(of: primary.port) else {
                    let seen = entry?.description ?? "unknown"
                    return .unmet("sentinel \(sentinel.port) reports replica \(replica.port) as \(seen)")
                }
            }
            let peers = try SentinelFields.entries(try await sentinel.send("SENTINEL", "SENTINELS", name))
            for peer in runningSentinels where peer.port != sentinel.port {
                let entry = peers.first { $0.port == peer.port }
                guard let entry, entry.isHealthy else {
                    let seen = entry?.description ?? "unknown"
                    return .unmet("sentinel \(sentinel.port) reports sentinel \(peer.port) as \(seen)")
                }
            }
        }
        return .met(primary.port)
    }
}
