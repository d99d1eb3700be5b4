extension RedisConnection {
    /// Whether this is a cluster client (its configuration's endpoint is ``RedisConfiguration/Endpoint/cluster(_:)``).
    public var isCluster: Bool { router != nil }

    /// The cluster's slot map as this client knows it (fetched first if it has none yet), or `nil` for a single
    /// server.
    public func clusterSlotMap() async throws(RedisError) -> ClusterSlotMap? {
        guard let router else { return nil }
        return try await router.currentMap()
    }

    /// Fetches the cluster's slot map again and returns it, or `nil` for a single server.
    public func refreshClusterSlotMap() async throws(RedisError) -> ClusterSlotMap? {
        guard let router else { return nil }
        return try await router.refreshMap()
    }

    /// The primary that serves `key`'s slot on a cluster (as this client's map says), or `nil` for a single server.
    public func clusterNode(forKey key: String) async throws(RedisError) -> RedisConfiguration.Cluster.Node? {
        guard let router else { return nil }
        let slot = HashSlot.of(key)
        guard let node = try await router.currentMap().primary(forSlot: slot) else {
            throw RedisError(.server, "CLUSTERDOWN no node serves slot \(slot)")
        }
        return node
    }

    /// Sends commands to one node of the cluster as they are, without routing or following redirections (for
    /// commands about the node itself: `INFO`, `CLUSTER INFO`, `SCRIPT LOAD`…). On a single server, the same as
    /// ``pipeline(_:)``.
    public func pipeline(
        _ commands: [RedisCommand],
        onNode node: RedisConfiguration.Cluster.Node
    ) async throws(RedisError) -> [Result<RedisValue, RedisError>] {
        guard let router else { return try await pipeline(commands) }
        return try await router.connection(to: node).pipeline(commands)
    }

    /// Sends one command to one node of the cluster as it is (see ``pipeline(_:onNode:)``).
    @discardableResult
    public func send(
        _ command: RedisCommand,
        onNode node: RedisConfiguration.Cluster.Node
    ) async throws(RedisError) -> RedisValue {
        try await pipeline([command], onNode: node)[0].get()
    }
}
