import RedisClient

/// What a node answers to `ROLE`.
public enum NodeRole: Sendable, Hashable, CustomStringConvertible {
    /// A primary, with the replicas it lists as connected.
    case primary(replicas: [NodeAddress])
    /// A replica of `primary`; `linkUp` once its replication link is established (state `connected`).
    case replica(of: NodeAddress, linkUp: Bool)
    /// A sentinel, with the names of the primaries it monitors.
    case sentinel(primaryNames: [String])

    /// Parses a `ROLE` reply.
    init(reply: RedisValue) throws(TopologyError) {
        guard let items = reply.array, let kind = items.first?.string else {
            throw TopologyError("unexpected ROLE reply \(reply)")
        }
        switch kind {
        case "master":
            let replicas = (items.count > 2 ? items[2].array ?? [] : []).compactMap { entry -> NodeAddress? in
                guard let fields = entry.array, fields.count >= 2, let host = fields[0].string,
                    let port = fields[1].int
                else { return nil }
                return NodeAddress(host: host, port: Int(port))
            }
            self = .primary(replicas: replicas)
        case "slave":
            guard items.count >= 4, let host = items[1].string, let port = items[2].int, let state = items[3].string
            else { throw TopologyError("unexpected ROLE reply of a replica \(reply)") }
            self = .replica(of: NodeAddress(host: host, port: Int(port)), linkUp: state == "connected")
        case "sentinel":
            self = .sentinel(primaryNames: (items.count > 1 ? items[1].array ?? [] : []).compactMap(\.string))
        default:
            throw TopologyError("unknown role \(kind)")
        }
    }

    /// Whether this is ``primary(replicas:)``.
    public var isPrimary: Bool {
        if case .primary = self { return true }
        return false
    }

    /// The primary a replica follows; `nil` for a primary or sentinel.
    public var primary: NodeAddress? {
        if case .replica(let primary, _) = self { return primary }
        return nil
    }

    public var description: String {
        switch self {
        case .primary(let replicas): "primary of [\(replicas.map(\.description).joined(separator: ", "))]"
        case .replica(let primary, let linkUp): "replica of \(primary) (link \(linkUp ? "up" : "down"))"
        case .sentinel(let names): "sentinel of [\(names.joined(separator: ", "))]"
        }
    }
}
