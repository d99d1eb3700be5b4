import RedisClient
import RedisRefresher

/// The replication state of the node a connection talks to, from `INFO replication`, and the node's own address
/// from `CLIENT INFO` (the address this client connected to, also when Sentinel chose the node).
struct ReplicationInfo: Sendable, Equatable {
    /// What the node is (`role` of `INFO replication`).
    enum Role: String, Sendable, Equatable {
        /// `role:master`: it takes writes.
        case primary
        /// `role:slave`: it copies a primary and refuses writes.
        case replica
    }

    /// One replica connected to a primary (a `slaveN:` line).
    struct Replica: Sendable, Equatable {
        /// `host:port` (brackets around an IPv6 literal), as the replica announced it.
        var address: String
        /// `online` once it streams; `wait_bgsave`, `send_bulk` while it synchronises.
        var state: String
        /// The replication offset it acknowledged.
        var offset: Int64?
        /// Seconds since its last acknowledgement.
        var lag: Int?
    }

    /// The node's role; `nil` when `INFO` named another one.
    var role: Role?
    /// The node's address as it saw this connection (`laddr` of `CLIENT INFO`); `nil` when unknown.
    var address: String?
    /// For a replica, its primary's address (`master_host:master_port`).
    var primaryAddress: String?
    /// For a replica, whether its link to the primary is up.
    var primaryLinkUp: Bool?
    /// `connected_slaves`.
    var connectedReplicas: Int
    /// The replicas of a primary, in `INFO`'s order.
    var replicas: [Replica]
    /// The primary's replication offset (`master_repl_offset`).
    var offset: Int64?

    /// The replicas that stream and so can acknowledge a `WAIT`.
    var onlineReplicas: Int { replicas.filter { $0.state == "online" }.count }

    /// Parses the reply to `INFO replication` and, when known, the node's own address.
    init(info: RedisInfo, address: String?) {
        switch info["role"] {
        case "master": role = .primary
        case "slave": role = .replica
        default: role = nil
        }
        self.address = address
        if role == .replica, let host = info["master_host"] {
            primaryAddress = Self.address(host: host, port: info["master_port"] ?? "?")
            primaryLinkUp = info["master_link_status"].map { $0 == "up" }
        }
        connectedReplicas = info.int("connected_slaves") ?? 0
        replicas = (0..<max(connectedReplicas, 0)).compactMap { index in
            info["slave\(index)"].flatMap(Self.replica)
        }
        offset = info["master_repl_offset"].flatMap { Int64($0) }
    }

    /// A `slaveN:` value: `ip=127.0.0.1,port=7202,state=online,offset=1234,lag=0`.
    static func replica(_ text: String) -> Replica? {
        var fields: [Substring: Substring] = [:]
        for pair in text.split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { fields[parts[0]] = parts[1] }
        }
        guard let ip = fields["ip"], let port = fields["port"] else { return nil }
        return Replica(
            address: address(host: String(ip), port: String(port)),
            state: fields["state"].map(String.init) ?? "unknown",
            offset: fields["offset"].flatMap { Int64($0) },
            lag: fields["lag"].flatMap { Int($0) }
        )
    }

    /// The `laddr` field of a `CLIENT INFO` reply (`id=7 addr=127.0.0.1:50000 laddr=127.0.0.1:7201 …`): the node's
    /// end of the connection. A Unix socket's `laddr` (`/path:0`) comes back as the path.
    static func localAddress(clientInfo: String) -> String? {
        for field in clientInfo.split(whereSeparator: { $0 == " " || $0.isNewline }) where field.hasPrefix("laddr=") {
            let value = field.dropFirst("laddr=".count)
            guard !value.isEmpty else { return nil }
            if value.hasPrefix("/"), value.hasSuffix(":0") { return String(value.dropLast(2)) }
            return String(value)
        }
        return nil
    }

    /// `host:port`, with brackets around an IPv6 literal.
    static func address(host: String, port: String) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// `INFO replication` and `CLIENT INFO` on `connection` (on a cluster, on `node`); a node that refuses
    /// `CLIENT INFO` (before Redis 6.2, or an ACL without it) leaves ``address`` unknown.
    static func fetch(
        from connection: RedisConnection,
        node: RedisConfiguration.Cluster.Node? = nil
    ) async throws -> ReplicationInfo {
        let info = try await RedisInfo.fetch("replication", from: connection, node: node)
        let clientInfo = try? await connection.send(RedisCommand("CLIENT", "INFO"), to: node).string
        return ReplicationInfo(info: info, address: clientInfo.flatMap { localAddress(clientInfo: $0) })
    }
}
