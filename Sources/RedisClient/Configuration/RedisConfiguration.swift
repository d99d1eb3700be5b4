/// Where and how to connect to Redis.
///
/// Build one from a URL with ``init(url:)`` (`redis://[user[:password]@]host[:port][/db]`, the same with
/// `rediss://` for TLS, `unix:///path/to/redis.sock[?db=N&password=...]`, or
/// `redis-sentinel://[user[:password]@]host1:port1[,host2:port2…][/db]#primaryName`,
/// `redis-cluster://[user[:password]@]host1:port1[,host2:port2…]`) and adjust the timeouts.
public struct RedisConfiguration: Sendable, Hashable {
    /// The address of the server.
    public enum Endpoint: Sendable, Hashable {
        /// A TCP host (name, IPv4 or IPv6 literal) and port.
        case tcp(host: String, port: Int)
        /// A Unix domain socket path.
        case unix(path: String)
        /// The primary that Redis Sentinel names: found by asking the sentinels at connect, checked with `ROLE`,
        /// and followed through failovers (`+switch-master`, `READONLY`, a lost connection).
        case sentinel(Sentinel)
        /// A Redis Cluster, found from its seed nodes: every command goes to the primary that serves its key's slot,
        /// following `MOVED` and `ASK` redirections and the cluster's failovers.
        case cluster(Cluster)
    }

    /// The server address.
    public var endpoint: Endpoint
    /// The ACL user for `AUTH user password`; `nil` authenticates as the default user.
    public var username: String?
    /// The password for `AUTH`; `nil` sends no AUTH.
    public var password: String?
    /// The logical database to `SELECT` after connecting.
    public var database: Int
    /// How long establishing a connection (including AUTH and SELECT) may take.
    public var connectTimeout: Duration
    /// How long the server may take to answer a command before the connection is declared hung, closed, and the
    /// commands on it fail with ``RedisError/Code/timeout``.
    public var commandTimeout: Duration
    /// Whether to enable TCP keepalive on the socket.
    public var keepAlive: Bool
    /// The name set with `CLIENT SETNAME` (visible in `CLIENT LIST`); `nil` sets none.
    public var clientName: String?
    /// TLS settings; `nil` connects in plaintext. TLS needs a TCP endpoint.
    public var tls: TLS?

    /// A configuration for an endpoint.
    public init(
        endpoint: Endpoint,
        username: String? = nil,
        password: String? = nil,
        database: Int = 0,
        connectTimeout: Duration = .seconds(5),
        commandTimeout: Duration = .seconds(5),
        keepAlive: Bool = true,
        clientName: String? = nil,
        tls: TLS? = nil
    ) {
        self.endpoint = endpoint
        self.username = username
        self.password = password
        self.database = database
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.keepAlive = keepAlive
        self.clientName = clientName
        self.tls = tls
    }

    /// Checks the values that can be wrong: ports, database index, timeouts, client name.
    public func validate() throws(RedisError) {
        if case .tcp(let host, let port) = endpoint {
            guard !host.isEmpty else { throw RedisError(.invalidConfiguration, "the host is empty") }
            guard (1...65535).contains(port) else {
                throw RedisError(.invalidConfiguration, "port \(port) is outside 1...65535")
            }
        }
        if case .sentinel(let sentinel) = endpoint { try sentinel.validate() }
        if case .cluster(let cluster) = endpoint {
            try cluster.validate()
            guard database == 0 else {
                throw RedisError(.invalidConfiguration, "a Redis Cluster has only database 0, not \(database)")
            }
        }
        if case .unix(let path) = endpoint, path.isEmpty || path.utf8.count > 107 {
            throw RedisError(.invalidConfiguration, "a Unix socket path must have 1...107 bytes")
        }
        guard database >= 0 else { throw RedisError(.invalidConfiguration, "database \(database) is negative") }
        guard connectTimeout > .zero, commandTimeout > .zero else {
            throw RedisError(.invalidConfiguration, "timeouts must be positive")
        }
        if let clientName, clientName.isEmpty || clientName.utf8.contains(where: { $0 <= 32 || $0 >= 127 }) {
            throw RedisError(.invalidConfiguration, "a client name must be non-empty printable ASCII without spaces")
        }
        if let tls {
            if case .unix = endpoint {
                throw RedisError(.invalidConfiguration, "TLS needs a TCP endpoint, not a Unix socket")
            }
            try tls.validate()
        }
    }

    /// A description safe for logs: never the password.
    public var redactedDescription: String {
        let auth = password == nil ? "" : "\(username ?? ""):***@"
        switch endpoint {
        case .tcp(let host, let port):
            let shownHost = host.contains(":") ? "[\(host)]" : host
            guard let tls else { return "redis://\(auth)\(shownHost):\(port)/\(database)" }
            let query = tls.queryItems.joined(separator: "&")
            return "rediss://\(auth)\(shownHost):\(port)/\(database)" + (query.isEmpty ? "" : "?\(query)")
        case .unix(let path):
            return "unix://\(path)?db=\(database)" + (password == nil ? "" : "&password=***")
        case .sentinel(let sentinel):
            let hosts = sentinel.nodes.map(\.description).joined(separator: ",")
            var query = tls?.queryItems ?? []
            if let user = sentinel.username { query.append("sentinel_username=\(URLText.percentEncoded(user))") }
            if sentinel.password != nil { query.append("sentinel_password=***") }
            return "\(tls == nil ? "redis" : "rediss")-sentinel://\(auth)\(hosts)/\(database)"
                + (query.isEmpty ? "" : "?\(query.joined(separator: "&"))") + "#\(sentinel.primaryName)"
        case .cluster(let cluster):
            let hosts = cluster.seeds.map(\.description).joined(separator: ",")
            let query = tls?.queryItems ?? []
            return "\(tls == nil ? "redis" : "rediss")-cluster://\(auth)\(hosts)"
                + (query.isEmpty ? "" : "?\(query.joined(separator: "&"))")
        }
    }
}

extension Duration {
    /// The duration in whole milliseconds, rounded up so a tiny positive duration never becomes zero.
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        let ms = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        return attoseconds % 1_000_000_000_000_000 > 0 ? ms + 1 : ms
    }
}
