/// What a cluster node's error reply asks the client to do.
enum ClusterRedirection: Equatable {
    /// `MOVED <slot> <host:port>`: the slot lives on that node now; update the map and send it there.
    case moved(slot: Int, to: RedisConfiguration.Cluster.Node)
    /// `ASK <slot> <host:port>`: this one command goes to that node, after `ASKING` (a slot being migrated).
    case ask(slot: Int, to: RedisConfiguration.Cluster.Node)
    /// `TRYAGAIN` (keys of a multi-key command split by a migration) or `LOADING`: the same node, a little later.
    case tryAgain
    /// `CLUSTERDOWN`: the cluster cannot serve the slot now (a shard without a primary); later, with a fresh map.
    case clusterDown

    /// The redirection an error reply asks for, if it is one; `host` stands in for an empty or unknown endpoint.
    init?(error message: String, answeredBy host: String) {
        let parts = message.split(separator: " ")
        guard let kind = parts.first else { return nil }
        switch kind {
        case "MOVED", "ASK":
            guard parts.count >= 3, let slot = Int(parts[1]), (0..<HashSlot.count).contains(slot),
                let colon = parts[2].lastIndex(of: ":"), let port = Int(parts[2][parts[2].index(after: colon)...]),
                (1...65535).contains(port)
            else { return nil }
            var address = String(parts[2][..<colon])
            if address.hasPrefix("["), address.hasSuffix("]") { address = String(address.dropFirst().dropLast()) }
            if address.isEmpty || address == "?" { address = host }
            let node = RedisConfiguration.Cluster.Node(host: address, port: port)
            self = kind == "MOVED" ? .moved(slot: slot, to: node) : .ask(slot: slot, to: node)
        case "TRYAGAIN", "LOADING":
            self = .tryAgain
        case "CLUSTERDOWN":
            self = .clusterDown
        default:
            return nil
        }
    }
}
