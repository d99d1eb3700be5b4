import RedisClient

extension ClusterTopology {
    /// Sends one command to `node`; an error says which node and command.
    @discardableResult
    func send(_ node: RedisNodeProcess, _ arguments: [RedisArgument]) async throws(TopologyError) -> RedisValue {
        let command = RedisCommand(arguments)
        return try await TopologyError.wrapping("\(command.name) on \(node.port)") { try await node.send(command) }
    }

    /// Sends one command given as arguments, e.g. `send(node, "CLUSTER", "MYID")`.
    @discardableResult
    func send(_ node: RedisNodeProcess, _ arguments: RedisArgument...) async throws(TopologyError) -> RedisValue {
        try await send(node, arguments)
    }

    /// What `node` answers to `CLUSTER NODES`.
    func view(of node: RedisNodeProcess) async throws(TopologyError) -> ClusterView {
        let reply = try await send(node, "CLUSTER", "NODES")
        guard let text = reply.string else { throw TopologyError("unexpected CLUSTER NODES reply \(reply)") }
        return try ClusterView(text)
    }

    /// `cluster_state` from the `CLUSTER INFO` of `node`: `ok`, or `fail` while a slot is not served or the node
    /// does not reach a majority of the primaries.
    func clusterState(of node: RedisNodeProcess) async throws(TopologyError) -> String {
        let reply = try await send(node, "CLUSTER", "INFO")
        for line in (reply.string ?? "").split(whereSeparator: \.isNewline) where line.hasPrefix("cluster_state:") {
            return String(line.dropFirst("cluster_state:".count))
        }
        throw TopologyError("no cluster_state in the CLUSTER INFO of \(node.port)")
    }

    /// `cluster_state` as the node on `port` reports it: `ok`, or `fail` while a slot is not served (see
    /// ``stopShard(of:timeout:)``) or the node does not reach a majority of the primaries.
    public func clusterState(port: Int) async throws(TopologyError) -> String {
        try await clusterState(of: try requireNode(port: port))
    }
}
