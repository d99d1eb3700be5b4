import RedisClient

extension ClusterTopology {
    /// Starts the nodes, builds the cluster and returns once it is stable (see ``waitUntilStable(timeout:)``):
    /// `cluster_state:ok` on every node, every node knows every other, all agree on the slot map, and every replica
    /// has synchronised with its primary. If it cannot be started within `timeout`, whatever was started is killed
    /// and the error says what was awaited last. ``startDuration`` says how long it took (about 2 s).
    public static func start(
        _ options: Options = Options(),
        timeout: Duration = .seconds(30)
    ) async throws(TopologyError) -> ClusterTopology {
        guard options.primaries >= 1, options.primaries <= HashSlot.count, options.replicasPerPrimary >= 0 else {
            throw TopologyError("a cluster needs 1 to 16384 primaries and replicasPerPrimary >= 0")
        }
        let began = ContinuousClock.now
        let deadline = began.advanced(by: timeout)
        let directory = try PrivateDirectory(prefix: "redis-cluster-topology")
        let topology: ClusterTopology
        do {
            let count = options.primaries * (1 + options.replicasPerPrimary)
            let ports = try (0..<count).map { _ throws(TopologyError) in
                (data: try LoopbackPort.free(), bus: try LoopbackPort.free())
            }
            let nodes = try ports.map { pair throws(TopologyError) in
                try RedisNodeProcess(
                    mode: .server,
                    port: pair.data,
                    configuration: nodeConfiguration(
                        options,
                        port: pair.data,
                        busPort: pair.bus,
                        directory: directory.path
                    ),
                    password: options.password,
                    directory: directory.path
                )
            }
            topology = ClusterTopology(
                options: options,
                nodes: nodes,
                busPorts: Dictionary(uniqueKeysWithValues: ports.map { ($0.data, $0.bus) }),
                directory: directory
            )
        } catch {
            directory.remove()
            throw error
        }
        do {
            try await topology.startNodes(topology.nodes, timeout: timeout)
            try await topology.assemble(deadline: deadline)
            try await topology.waitUntilStable(timeout: deadline - .now)
        } catch {
            await topology.shutdown()
            throw error
        }
        topology.record(startDuration: .now - began)
        return topology
    }

    /// Starts (or restarts) `nodes` side by side and returns once each answers `PING`.
    func startNodes(_ nodes: [RedisNodeProcess], timeout: Duration) async throws(TopologyError) {
        try await TopologyError.wrapping("starting \(nodes.map(\.port))") {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for node in nodes { group.addTask { try await node.restart(timeout: timeout) } }
                try await group.waitForAll()
            }
        }
    }

    /// Makes a cluster of the fresh nodes: a distinct configuration epoch each (so that no epoch collision has to be
    /// resolved first), the slots of each primary, every node meeting every other, and, once each knows the others,
    /// the replicas following their primaries.
    private func assemble(deadline: ContinuousClock.Instant) async throws(TopologyError) {
        var ids: [Int: String] = [:]
        for node in nodes {
            guard let id = try await send(node, "CLUSTER", "MYID").string else {
                throw TopologyError("no CLUSTER MYID from \(node.port)")
            }
            ids[node.port] = id
        }
        record(nodeIDs: ids)
        for (index, node) in nodes.enumerated() {
            try await send(node, "CLUSTER", "SET-CONFIG-EPOCH", RedisArgument(index + 1))
        }
        let primaries = Array(nodes.prefix(options.primaries))
        for (index, primary) in primaries.enumerated() {
            let slots = Self.slotRange(ofPrimary: index, of: options.primaries)
            try await send(
                primary,
                "CLUSTER",
                "ADDSLOTSRANGE",
                RedisArgument(slots.lowerBound),
                RedisArgument(slots.upperBound)
            )
        }
        for (index, node) in nodes.enumerated() {
            for other in nodes.prefix(index) {
                try await send(
                    node,
                    "CLUSTER",
                    "MEET",
                    "127.0.0.1",
                    RedisArgument(other.port),
                    RedisArgument(busPorts[other.port] ?? other.port + 10000)
                )
            }
        }
        try await TopologyError.wrapping("building the cluster") {
            try await poll("every node knows every other", timeout: deadline - .now) { () async throws -> Check<Void> in
                for node in nodes {
                    let view = try await view(of: node)
                    for other in nodes where other !== node {
                        guard let line = view.line(id: ids[other.port] ?? ""), line.isHealthy else {
                            let seen = view.line(port: other.port)?.description ?? "unknown"
                            return .unmet("\(node.port) sees \(other.port) as \(seen)")
                        }
                    }
                }
                return .met(())
            }
        }
        for (index, replica) in nodes.dropFirst(options.primaries).enumerated() {
            let primary = primaries[index / options.replicasPerPrimary]
            try await send(replica, "CLUSTER", "REPLICATE", RedisArgument(ids[primary.port] ?? ""))
        }
    }
}
