extension RedisConfiguration {
    /// Where to find a primary through Redis Sentinel: the sentinels to ask, the name they monitor it under, and the
    /// sentinels' own credentials.
    ///
    /// The configuration's ``RedisConfiguration/username``, ``RedisConfiguration/password``,
    /// ``RedisConfiguration/database`` and ``RedisConfiguration/tls`` apply to the data nodes (the primary);
    /// ``username`` and ``password`` here apply to the sentinels only, which often have none or other ones. TLS settings
    /// apply to both.
    public struct Sentinel: Sendable, Hashable {
        /// A sentinel's address.
        public struct Node: Sendable, Hashable {
            /// Host name, IPv4 or IPv6 literal.
            public var host: String
            /// TCP port (sentinels listen on 26379 by default).
            public var port: Int

            /// A sentinel address.
            public init(host: String, port: Int = 26379) {
                self.host = host
                self.port = port
            }

            /// `host:port`, with brackets around an IPv6 literal.
            public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
        }

        /// The sentinels, asked in this order (the one that answered last is asked first next time).
        public var nodes: [Node]
        /// The name the sentinels monitor the primary under (`sentinel monitor <name> …`).
        public var primaryName: String
        /// The ACL user for `AUTH` on the sentinels; `nil` authenticates as the default user.
        public var username: String?
        /// The password for `AUTH` on the sentinels; `nil` sends no AUTH to them.
        public var password: String?

        /// Sentinel settings.
        public init(nodes: [Node], primaryName: String, username: String? = nil, password: String? = nil) {
            self.nodes = nodes
            self.primaryName = primaryName
            self.username = username
            self.password = password
        }

        /// Checks the sentinel list and the primary's name.
        func validate() throws(RedisError) {
            guard !nodes.isEmpty else { throw RedisError(.invalidConfiguration, "a Sentinel setup needs a sentinel") }
            guard nodes.count <= 64 else { throw RedisError(.invalidConfiguration, "more than 64 sentinels") }
            for node in nodes {
                guard !node.host.isEmpty else { throw RedisError(.invalidConfiguration, "a sentinel's host is empty") }
                guard (1...65535).contains(node.port) else {
                    throw RedisError(.invalidConfiguration, "sentinel port \(node.port) is outside 1...65535")
                }
            }
            // No URL delimiters either: a name is shown in descriptions and errors, and must never carry a query
            // (`#name?sentinel_password=…`) into them.
            guard !primaryName.isEmpty, primaryName.utf8.count <= 200,
                !primaryName.utf8.contains(where: { $0 <= 32 || $0 >= 127 || Self.reservedInName.contains($0) })
            else {
                throw RedisError(
                    .invalidConfiguration,
                    "the primary's name must be 1-200 bytes of printable ASCII without spaces or any of ?&=#@/%"
                )
            }
        }

        private static let reservedInName = Set("?&=#@/%".utf8)

        /// The configuration for talking to one sentinel: its address, the sentinels' credentials, the timeouts and
        /// TLS of `base`; no database or client name (a sentinel has neither).
        func configuration(for node: Node, base: RedisConfiguration) -> RedisConfiguration {
            RedisConfiguration(
                endpoint: .tcp(host: node.host, port: node.port),
                username: username,
                password: password,
                connectTimeout: base.connectTimeout,
                commandTimeout: base.commandTimeout,
                keepAlive: base.keepAlive,
                tls: base.tls
            )
        }
    }

    /// The configuration for the data node at `host:port` found through Sentinel: the same settings, a TCP endpoint.
    func node(host: String, port: Int) -> RedisConfiguration {
        var node = self
        node.endpoint = .tcp(host: host, port: port)
        return node
    }

    /// The Sentinel settings, when the endpoint is ``Endpoint/sentinel(_:)``.
    public var sentinel: Sentinel? {
        if case .sentinel(let sentinel) = endpoint { return sentinel }
        return nil
    }
}
