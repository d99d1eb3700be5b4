import RedisClient

/// One entry of a `SENTINEL MASTER`, `SENTINEL REPLICAS` or `SENTINEL SENTINELS` reply: a flat array of field names
/// and values (`ip`, `port`, `flags`, `num-slaves`, `master-link-status`, ...).
struct SentinelFields: Sendable, CustomStringConvertible {
    let fields: [String: String]

    init(_ reply: RedisValue) throws(TopologyError) {
        guard let items = reply.array, items.count % 2 == 0 else {
            throw TopologyError("unexpected sentinel reply \(reply)")
        }
        var fields: [String: String] = [:]
        for index in stride(from: 0, to: items.count, by: 2) {
            guard let name = items[index].string, let value = items[index + 1].string else { continue }
            fields[name] = value
        }
        self.fields = fields
    }

    /// The entries of a `SENTINEL REPLICAS` or `SENTINEL SENTINELS` reply.
    static func entries(_ reply: RedisValue) throws(TopologyError) -> [SentinelFields] {
        guard let items = reply.array else { throw TopologyError("unexpected sentinel reply \(reply)") }
        return try items.map { item throws(TopologyError) in try SentinelFields(item) }
    }

    var port: Int? { fields["port"].flatMap { Int($0) } }

    /// `flags`, split: `master`, `slave`, `sentinel`, `s_down`, `o_down`, `disconnected`, `failover_in_progress`, ...
    var flags: Set<String> { Set((fields["flags"] ?? "").split(separator: ",").map(String.init)) }

    /// Whether the sentinel sees the instance as reachable and healthy: connected, not subjectively or objectively
    /// down.
    var isHealthy: Bool { flags.isDisjoint(with: ["s_down", "o_down", "disconnected"]) }

    /// Whether the sentinel has read the instance's `INFO` (`info-refresh`, the milliseconds since, is the time since
    /// the epoch until then) within the 30 s a sentinel trusts it for when the primary is up.
    var hasInfo: Bool { fields["info-refresh"].flatMap { Int($0) }.map { $0 < 30_000 } ?? false }

    /// Whether the sentinel sees a healthy replica of the primary on `primaryPort`: flags `slave`, not down or
    /// disconnected, and its last `INFO` said it is a replica of that primary with its link up.
    func isHealthyReplica(of primaryPort: Int) -> Bool {
        isHealthy && flags.contains("slave") && hasInfo && fields["role-reported"] == "slave"
            && fields["master-link-status"] == "ok" && fields["master-port"] == String(primaryPort)
    }

    /// The address, flags and, for a replica, what its last `INFO` said (the fields never hold a password).
    var description: String {
        var text = "\(fields["ip"] ?? "?"):\(fields["port"] ?? "?") [\(fields["flags"] ?? "")]"
        if let role = fields["role-reported"], flags.contains("slave") {
            text +=
                " reported \(role) of port \(fields["master-port"] ?? "?"), link \(fields["master-link-status"] ?? "?")"
        }
        return text
    }
}
