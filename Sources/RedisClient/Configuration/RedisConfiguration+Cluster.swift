extension RedisConfiguration {
    /// Where to find a Redis Cluster: seed nodes to learn the slot map from.
    ///
    /// The configuration's ``RedisConfiguration/username``, ``RedisConfiguration/password``, timeouts and
    /// ``RedisConfiguration/tls`` apply to every node of the cluster. A cluster has only database 0.
    public struct Cluster: Sendable, Hashable {
        /// A node's address.
        public struct Node: Sendable, Hashable, CustomStringConvertible {
            /// Host name, IPv4 or IPv6 literal.
            public var host: String
            /// TCP port.
            public var port: Int

            /// A node address.
            public init(host: String, port: Int = 6379) {
                self.host = host
                self.port = port
            }

            /// `host:port`, with brackets around an IPv6 literal.
            public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
        }

        /// Nodes asked for the slot map, in this order, until one answers; any node of the cluster will do, and the
        /// map then names every node.
        public var seeds: [Node]

        /// Cluster settings.
        public init(seeds: [Node]) {
            self.seeds = seeds
        }

        /// Checks the seed list.
        func validate() throws(RedisError) {
            guard !seeds.isEmpty else { throw RedisError(.invalidConfiguration, "a cluster needs a seed node") }
            guard seeds.count <= 64 else { throw RedisError(.invalidConfiguration, "more than 64 seed nodes") }
            for node in seeds {
                guard !node.host.isEmpty else { throw RedisError(.invalidConfiguration, "a seed node's host is empty") }
                guard (1...65535).contains(node.port) else {
                    throw RedisError(.invalidConfiguration, "seed port \(node.port) is outside 1...65535")
                }
            }
        }
    }

    /// The Cluster settings, when the endpoint is ``Endpoint/cluster(_:)``.
    public var cluster: Cluster? {
        if case .cluster(let cluster) = endpoint { return cluster }
        return nil
    }
}
