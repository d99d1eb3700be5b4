import RedisClient
import RedisRefresher

extension StatusReport {
    /// The `cluster` object of `status --json`: where the session lives on a Redis Cluster (`null` on a single node
    /// and behind Sentinel). Every field is always present, `null` when unknown.
    struct Cluster: Encodable, Equatable {
        /// The hash slot of the session's keys (their hash tag is the session name).
        var slot: Int
        /// The primary serving the slot, `host:port` as the cluster announces it; `null` when no node serves it.
        var node: String?
        /// The replicas the cluster lists for that primary's shard, whatever their health (the `replication` object
        /// says which stream).
        var shardReplicas: [String]
        /// `cluster_state` of `CLUSTER INFO` on that node: `ok`, or `fail` while a slot is unserved.
        var state: String?
        /// How many shards serve slots.
        var shards: Int?
        /// `cluster_known_nodes` of `CLUSTER INFO`: primaries and replicas, failed ones included.
        var knownNodes: Int?
        /// Why something is unknown (the slot map or `CLUSTER INFO` failed); `null` otherwise.
        var error: String?

        enum CodingKeys: String, CodingKey {
            case slot, node, state, shards, error
            case shardReplicas = "shard_replicas"
            case knownNodes = "known_nodes"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(slot, forKey: .slot)
            try container.encode(node, forKey: .node)
            try container.encode(shardReplicas, forKey: .shardReplicas)
            try container.encode(state, forKey: .state)
            try container.encode(shards, forKey: .shards)
            try container.encode(knownNodes, forKey: .knownNodes)
            try container.encode(error, forKey: .error)
        }

        /// `ok, 3 shards, 6 known nodes`, `fail (…)`, `unknown (…)`.
        var stateLine: String {
            var parts: [String] = []
            if let shards { parts.append("\(shards) shard\(shards == 1 ? "" : "s")") }
            if let knownNodes { parts.append("\(knownNodes) known node\(knownNodes == 1 ? "" : "s")") }
            let state = self.state.map(Operator.printable) ?? "unknown"
            let details = parts.isEmpty ? "" : ", " + parts.joined(separator: ", ")
            return state + details + (error.map { " (\($0))" } ?? "")
        }

        /// `5461, served by 127.0.0.1:7001 (replicas 127.0.0.1:7004)`.
        var slotLine: String {
            guard let node else { return "\(slot), served by no node" }
            let replicas = shardReplicas.isEmpty ? "no replicas" : "replicas " + shardReplicas.joined(separator: ", ")
            return "\(slot), served by \(node) (\(replicas))"
        }

        /// The slot of `keys`, the primary serving it and its shard from the client's slot map (fetched again, so
        /// that it is current), and the state of the cluster as that primary sees it. Returns the primary too, to
        /// ask it about its replication.
        static func fetch(
            keys: SessionKeys,
            from connection: RedisConnection
        ) async -> (cluster: Cluster, node: RedisConfiguration.Cluster.Node?) {
            let slot = HashSlot.of(keys.lock)
            var cluster = Cluster(slot: slot, shardReplicas: [])
            let node: RedisConfiguration.Cluster.Node?
            do {
                let map = try await connection.refreshClusterSlotMap()
                let shard = map?.shard(forSlot: slot)
                node = shard?.primary
                cluster.node = node.map { Operator.printable($0.description) }
                cluster.shardReplicas = shard?.replicas.map { Operator.printable($0.description) } ?? []
                cluster.shards = map?.shards.count
            } catch {
                cluster.error = Operator.printable(Operator.oneLine(error.message))
                return (cluster, nil)
            }
            do {
                let info = RedisInfo(
                    parsing: try await connection.send(RedisCommand("CLUSTER", "INFO"), to: node).string ?? ""
                )
                cluster.state = info["cluster_state"]
                cluster.knownNodes = info.int("cluster_known_nodes")
            } catch {
                cluster.error = Operator.printable(Operator.oneLine(error.message))
            }
            return (cluster, node)
        }
    }
}
