/// Which primary serves each of a cluster's 16384 slots, and the replicas of each shard: what `CLUSTER SHARDS` (or
/// `CLUSTER SLOTS` on servers before 7.0) reported.
public struct ClusterSlotMap: Sendable, Hashable {
    /// One shard: a primary, its replicas and the slot ranges it serves.
    public struct Shard: Sendable, Hashable {
        /// The primary's address.
        public var primary: RedisConfiguration.Cluster.Node
        /// The replicas' addresses: those `CLUSTER SHARDS` does not report failed (every one `CLUSTER SLOTS` lists).
        public var replicas: [RedisConfiguration.Cluster.Node]
        /// Whether the map knows this shard's replicas; `false` for a primary learnt from a `MOVED` reply only, until
        /// the map is fetched again.
        public var replicasKnown: Bool = true
        /// The slot ranges, inclusive.
        public var slots: [ClosedRange<Int>]

        /// A shard.
        public init(
            primary: RedisConfiguration.Cluster.Node,
            replicas: [RedisConfiguration.Cluster.Node],
            slots: [ClosedRange<Int>]
        ) {
            self.primary = primary
            self.replicas = replicas
            self.slots = slots
        }
    }

    /// The shards that serve at least one slot, ordered by their first slot.
    public private(set) var shards: [Shard]
    /// Slot → index in `shards`, or `unassigned`.
    private var owners: [UInt16]
    private static let unassigned = UInt16.max

    /// A map from shards; a slot claimed twice goes to the later shard.
    public init(shards: [Shard]) {
        let serving = shards.filter { !$0.slots.isEmpty }.sorted {
            ($0.slots.map(\.lowerBound).min() ?? 0) < ($1.slots.map(\.lowerBound).min() ?? 0)
        }
        self.shards = serving
        owners = Array(repeating: Self.unassigned, count: HashSlot.count)
        for (index, shard) in serving.enumerated() {
            for range in shard.slots where range.upperBound >= 0 && range.lowerBound < HashSlot.count {
                let clamped = max(range.lowerBound, 0)...min(range.upperBound, HashSlot.count - 1)
                for slot in clamped { owners[slot] = UInt16(index) }
            }
        }
    }

    /// The primary serving `slot`, if any.
    public func primary(forSlot slot: Int) -> RedisConfiguration.Cluster.Node? {
        guard slot >= 0, slot < owners.count, owners[slot] != Self.unassigned else { return nil }
        return shards[Int(owners[slot])].primary
    }

    /// The shard serving `slot`, if any.
    public func shard(forSlot slot: Int) -> Shard? {
        guard slot >= 0, slot < owners.count, owners[slot] != Self.unassigned else { return nil }
        return shards[Int(owners[slot])]
    }

    /// The primaries, in shard order.
    public var primaries: [RedisConfiguration.Cluster.Node] { shards.map(\.primary) }

    /// Whether every slot is served.
    public var coversAllSlots: Bool { !owners.contains(Self.unassigned) }

    /// The map after a `MOVED` reply: `slot` is now served by `node` (a new shard when no shard has it as primary).
    mutating func move(slot: Int, to node: RedisConfiguration.Cluster.Node) {
        guard slot >= 0, slot < owners.count else { return }
        if let index = shards.firstIndex(where: { $0.primary == node }) {
            owners[slot] = UInt16(index)
        } else if shards.count < Int(Self.unassigned) {
            var shard = Shard(primary: node, replicas: [], slots: [slot...slot])
            shard.replicasKnown = false
            shards.append(shard)
            owners[slot] = UInt16(shards.count - 1)
        }
    }
}

extension ClusterSlotMap {
    /// The map from a `CLUSTER SHARDS` reply (Redis 7), in RESP2: per shard a flat map with `slots` (start, end pairs)
    /// and `nodes` (flat maps with `ip`, `endpoint`, `hostname`, `port`, `tls-port`, `role`, `health`).
    ///
    /// - Parameters:
    ///   - answeredBy: the host of the node that answered, for nodes whose endpoint is unknown (`?` or empty).
    ///   - tls: whether to use the nodes' `tls-port`.
    init(shardsReply reply: RedisValue, answeredBy host: String, tls: Bool) throws(RedisError) {
        guard let entries = reply.array else { throw Self.malformed("CLUSTER SHARDS", reply) }
        var shards: [Shard] = []
        for entry in entries {
            let fields = try Self.fields(entry, "CLUSTER SHARDS")
            guard let slotValues = fields["slots"]?.array, slotValues.count % 2 == 0 else {
                throw Self.malformed("CLUSTER SHARDS", entry)
            }
            var slots: [ClosedRange<Int>] = []
            var index = 0
            while index < slotValues.count {
                guard let start = slotValues[index].int, let end = slotValues[index + 1].int, start <= end else {
                    throw Self.malformed("CLUSTER SHARDS", entry)
                }
                slots.append(Int(start)...Int(end))
                index += 2
            }
            var primary: RedisConfiguration.Cluster.Node?
            var replicas: [RedisConfiguration.Cluster.Node] = []
            for nodeValue in fields["nodes"]?.array ?? [] {
                let node = try Self.fields(nodeValue, "CLUSTER SHARDS")
                let portValue = (tls ? node["tls-port"] : nil) ?? node["port"]
                guard let port = portValue?.int, (1...65535).contains(port) else { continue }
                var address = node["endpoint"]?.string ?? node["ip"]?.string ?? ""
                if address.isEmpty || address == "?" { address = node["ip"]?.string ?? "" }
                if address.isEmpty || address == "?" { address = host }
                let found = RedisConfiguration.Cluster.Node(host: address, port: Int(port))
                // `fail` is a node the cluster gave up on; `loading` is also what a replica that has not replicated
                // anything yet reports (offset 0), which can still be promoted.
                let online = !(node["health"]?.string?.hasPrefix("fail") ?? false)
                if node["role"]?.string == "master" {
                    // A failed primary stays listed until its replica takes over: the replica, once promoted, is
                    // reported as master too, and the online one wins.
                    if primary == nil || online { primary = found }
                } else if online {
                    // A failed replica cannot be promoted: it does not count.
                    replicas.append(found)
                }
            }
            guard let primary, !slots.isEmpty else { continue }
            shards.append(Shard(primary: primary, replicas: replicas, slots: slots))
        }
        self.init(shards: shards)
    }

    /// The map from a `CLUSTER SLOTS` reply: per range `start`, `end`, then the primary and the replicas as
    /// `[host, port, id, …]`.
    init(slotsReply reply: RedisValue, answeredBy host: String) throws(RedisError) {
        guard let ranges = reply.array else { throw Self.malformed("CLUSTER SLOTS", reply) }
        var byPrimary: [RedisConfiguration.Cluster.Node: Shard] = [:]
        var order: [RedisConfiguration.Cluster.Node] = []
        for range in ranges {
            guard let parts = range.array, parts.count >= 3, let start = parts[0].int, let end = parts[1].int,
                start <= end
            else { throw Self.malformed("CLUSTER SLOTS", range) }
            var nodes: [RedisConfiguration.Cluster.Node] = []
            for nodeValue in parts[2...] {
                guard let node = nodeValue.array, node.count >= 2, let port = node[1].int, (1...65535).contains(port)
                else { throw Self.malformed("CLUSTER SLOTS", range) }
                var address = node[0].string ?? ""
                if address.isEmpty || address == "?" { address = host }
                nodes.append(RedisConfiguration.Cluster.Node(host: address, port: Int(port)))
            }
            let primary = nodes[0]
            if byPrimary[primary] == nil {
                order.append(primary)
                byPrimary[primary] = Shard(primary: primary, replicas: Array(nodes.dropFirst()), slots: [])
            }
            byPrimary[primary]?.slots.append(Int(start)...Int(end))
        }
        self.init(shards: order.compactMap { byPrimary[$0] })
    }

    private static func fields(_ value: RedisValue, _ command: String) throws(RedisError) -> [String: RedisValue] {
        guard let items = value.array, items.count % 2 == 0 else { throw malformed(command, value) }
        var fields: [String: RedisValue] = [:]
        var index = 0
        while index < items.count {
            guard let name = items[index].string else { throw malformed(command, value) }
            fields[name] = items[index + 1]
            index += 2
        }
        return fields
    }

    private static func malformed(_ command: String, _ value: RedisValue) -> RedisError {
        RedisError(.protocolError, "unexpected \(command) reply: \(String(describing: value).prefix(200))")
    }
}
