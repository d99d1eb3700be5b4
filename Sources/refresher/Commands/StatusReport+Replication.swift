import RedisRefresher

extension StatusReport {
    /// The `replication` object of `status --json`: the node the command talked to (behind Sentinel, the primary it
    /// found) and its replicas. Every field is always present, `null` when unknown or not applicable.
    struct Replication: Encodable, Equatable {
        struct Replica: Encodable, Equatable {
            var address: String
            var state: String
            var offset: Int64?
            var lag: Int?

            enum CodingKeys: String, CodingKey {
                case address, state, offset
                case lag = "lag_s"
            }

            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(address, forKey: .address)
                try container.encode(state, forKey: .state)
                try container.encode(offset, forKey: .offset)
                try container.encode(lag, forKey: .lag)
            }
        }

        /// `primary`, `replica`, or `null` when unknown.
        var role: String?
        /// The node's address as it saw the connection.
        var address: String?
        /// For a replica, its primary's address.
        var primaryAddress: String?
        /// For a replica, whether its link to the primary is up.
        var primaryLinkUp: Bool?
        var connectedReplicas: Int?
        var replicas: [Replica]
        /// Why the replication state is unknown (`INFO` refused or failed); `null` otherwise.
        var error: String?

        enum CodingKeys: String, CodingKey {
            case role, address, replicas, error
            case primaryAddress = "primary_address"
            case primaryLinkUp = "primary_link_up"
            case connectedReplicas = "connected_replicas"
        }

        init(_ info: ReplicationInfo) {
            role = info.role?.rawValue
            address = info.address.map(Operator.printable)
            primaryAddress = info.primaryAddress.map(Operator.printable)
            primaryLinkUp = info.primaryLinkUp
            connectedReplicas = info.connectedReplicas
            replicas = info.replicas.map {
                Replica(
                    address: Operator.printable($0.address),
                    state: Operator.printable($0.state),
                    offset: $0.offset,
                    lag: $0.lag
                )
            }
        }

        init(error: String) {
            replicas = []
            self.error = Operator.printable(Operator.oneLine(error))
        }

        /// How many replicas stream, so can acknowledge a `WAIT`; `nil` when unknown.
        var onlineReplicas: Int? {
            guard error == nil, role != nil else { return nil }
            return replicas.filter { $0.state == "online" }.count
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(role, forKey: .role)
            try container.encode(address, forKey: .address)
            try container.encode(primaryAddress, forKey: .primaryAddress)
            try container.encode(primaryLinkUp, forKey: .primaryLinkUp)
            try container.encode(connectedReplicas, forKey: .connectedReplicas)
            try container.encode(replicas, forKey: .replicas)
            try container.encode(error, forKey: .error)
        }

        /// `primary 127.0.0.1:7201`, `replica of 10.0.0.1:6379 (link up): …`, `unknown (…)`.
        var nodeLine: String {
            if let error { return "unknown (\(error))" }
            switch role {
            case "primary": return "primary " + (address ?? "(address unknown)")
            case "replica":
                let link = primaryLinkUp.map { $0 ? "link up" : "link down" } ?? "link unknown"
                return "replica \(address.map { "\($0) " } ?? "")of \(primaryAddress ?? "an unknown primary") "
                    + "(\(link)): not the primary, writes fail here"
            default: return "unknown role"
            }
        }

        /// `none`, `1 connected: 127.0.0.1:7202 (online, lag 0 s)`.
        var replicasLine: String {
            if error != nil { return "unknown" }
            guard let connectedReplicas, connectedReplicas > 0 else { return "none" }
            let listed = replicas.map { replica in
                "\(replica.address) (\(replica.state)" + (replica.lag.map { ", lag \($0) s" } ?? "") + ")"
            }
            return "\(connectedReplicas) connected" + (listed.isEmpty ? "" : ": " + listed.joined(separator: ", "))
        }
    }

    /// The `replica_acknowledgement` object of `status --json`: the setting a worker with this URL and environment
    /// uses, and whether the node has enough replicas online for it.
    struct Acknowledgement: Encodable, Equatable {
        /// 0 when off.
        var replicas: Int
        /// `null` when off.
        var timeoutMilliseconds: Int64?
        /// Whether it is the automatic setting (no `REPLICA_ACKS` or `REPLICA_ACK_TIMEOUT_MS`).
        var automatic: Bool
        /// Whether the URL uses Sentinel (what the automatic setting depends on).
        var sentinel: Bool
        /// Whether the URL names a Redis Cluster (what the automatic setting also depends on).
        var cluster: Bool
        /// Whether enough replicas are online to acknowledge; `null` when off, unknown, or not waited for.
        var enoughReplicas: Bool?
        /// How many replicas are online (in the `replication` object, not repeated here).
        var onlineReplicas: Int?
        /// On a cluster: the session's shard lists no replica, and the setting skips such shards (it cannot fail
        /// over, so nothing would acknowledge); writes there do not wait.
        var skippedShard: Bool

        enum CodingKeys: String, CodingKey {
            case replicas, automatic, sentinel, cluster
            case timeoutMilliseconds = "timeout_ms"
            case enoughReplicas = "enough_replicas"
        }

        /// - Parameter shardReplicas: on a cluster, how many replicas the slot map lists for the session's shard.
        init(
            _ acknowledgement: ReplicaAcknowledgement,
            automatic: Bool,
            sentinel: Bool,
            cluster: Bool = false,
            onlineReplicas: Int?,
            shardReplicas: Int? = nil
        ) {
            replicas = acknowledgement.isOn ? acknowledgement.replicas : 0
            timeoutMilliseconds = acknowledgement.isOn ? acknowledgement.timeoutMilliseconds : nil
            self.automatic = automatic
            self.sentinel = sentinel
            self.cluster = cluster
            skippedShard = acknowledgement.isOn && acknowledgement.skipsShardsWithoutReplicas && shardReplicas == 0
            enoughReplicas =
                acknowledgement.isOn && !skippedShard ? onlineReplicas.map { $0 >= acknowledgement.replicas } : nil
            self.onlineReplicas = onlineReplicas
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(replicas, forKey: .replicas)
            try container.encode(timeoutMilliseconds, forKey: .timeoutMilliseconds)
            try container.encode(automatic, forKey: .automatic)
            try container.encode(sentinel, forKey: .sentinel)
            try container.encode(cluster, forKey: .cluster)
            try container.encode(enoughReplicas, forKey: .enoughReplicas)
        }

        /// `1 replica within 1 s (automatic with Sentinel)`, `off (automatic without Sentinel)`,
        /// `1 replica within 1 s (automatic on a cluster)`, with a warning when too few replicas are online.
        var line: String {
            let setting =
                replicas == 0
                ? "off"
                : ReplicaAcknowledgement(replicas: replicas, timeout: .milliseconds(timeoutMilliseconds ?? 0)).summary
            let source: String
            if !automatic {
                source =
                    "from \(ReplicaAcknowledgementOptions.replicasVariable)/"
                    + ReplicaAcknowledgementOptions.timeoutVariable
            } else if cluster {
                source = "automatic on a cluster"
            } else {
                source = "automatic \(sentinel ? "with" : "without") Sentinel"
            }
            let warning: String
            if skippedShard {
                warning = "; the session's shard has no replica: its writes do not wait"
            } else if enoughReplicas == false {
                warning =
                    "; only \(onlineReplicas ?? 0) online: no refresh can complete until \(replicas) "
                    + "\(replicas == 1 ? "is" : "are")"
            } else {
                warning = ""
            }
            return "\(setting) (\(source))\(warning)"
        }
    }
}
