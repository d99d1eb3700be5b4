extension RedisConfiguration {
    /// A configuration from a URL.
    ///
    /// Accepted forms:
    /// - `redis://[user[:password]@]host[:port][/db]`, user and password percent-encoded, IPv6 hosts in brackets;
    /// - `redis://:password@host` (password only);
    /// - `rediss://…` (TLS), the same with optional query items, percent-encoded: `ca_file`, `ca_dir`,
    ///   `cert_file`, `key_file`, `server_name` and `insecure_skip_verify=true` (see ``TLS``), e.g.
    ///   `rediss://:password@cache.internal:6380/0?ca_file=/etc/redis/ca.pem`;
    /// - `unix:///path/to/redis.sock[?db=N&user=U&password=P]`;
    /// - `redis-sentinel://[user[:password]@]host1[:port1][,host2[:port2]…][/db][?query]#primaryName` (Redis
    ///   Sentinel; ports default to 26379; user and password are the data nodes'), with optional query items
    ///   `sentinel_username` and `sentinel_password` (the sentinels' own credentials, when they need any); the same
    ///   with `rediss-sentinel://` for TLS to sentinels and data nodes, where the TLS items of `rediss://` also apply;
    /// - `redis-cluster://[user[:password]@]host1[:port1][,host2[:port2]…][/0]` (Redis Cluster seed nodes; ports
    ///   default to 6379), and `rediss-cluster://…[?query]` for TLS to every node with the query items of `rediss://`.
    ///
    /// Anything else (other schemes, bad ports or databases, stray characters, bad percent-escapes, unknown query
    /// items) throws ``RedisError/Code/invalidURL``. The error never repeats the password.
    public init(url: String) throws(RedisError) {
        guard url.utf8.count <= 4096 else { throw RedisError(.invalidURL, "the URL is longer than 4096 bytes") }
        guard !url.utf8.contains(where: { $0 <= 32 || $0 == 127 }) else {
            throw RedisError(.invalidURL, "the URL contains spaces or control characters")
        }
        if url.hasPrefix("unix://") {
            try self.init(unixURL: url.dropFirst("unix://".count))
        } else if url.hasPrefix("redis://") {
            try self.init(tcpURL: url.dropFirst("redis://".count))
        } else if url.hasPrefix("rediss://") {
            let rest = url.dropFirst("rediss://".count)
            let queryStart = rest.firstIndex(of: "?") ?? rest.endIndex
            try self.init(tcpURL: rest[..<queryStart])
            tls = try Self.tlsSettings(query: rest[queryStart...].dropFirst())
        } else if url.hasPrefix("redis-sentinel://") {
            try self.init(sentinelURL: url.dropFirst("redis-sentinel://".count), tls: false)
        } else if url.hasPrefix("rediss-sentinel://") {
            try self.init(sentinelURL: url.dropFirst("rediss-sentinel://".count), tls: true)
        } else if url.hasPrefix("redis-cluster://") {
            try self.init(clusterURL: url.dropFirst("redis-cluster://".count), tls: false)
        } else if url.hasPrefix("rediss-cluster://") {
            try self.init(clusterURL: url.dropFirst("rediss-cluster://".count), tls: true)
        } else {
            throw RedisError(
                .invalidURL,
                "the URL must start with redis://, rediss://, unix://, redis-sentinel://, rediss-sentinel://, "
                    + "redis-cluster:// or rediss-cluster://"
            )
        }
        try validate()
    }

    private init(tcpURL rest: Substring) throws(RedisError) {
        guard !rest.contains("?"), !rest.contains("#") else {
            throw RedisError(
                .invalidURL,
                "a fragment, or a query string outside rediss:// URLs (where it holds TLS settings), is not supported"
            )
        }
        let (username, password, hosts, database) = try Self.authorityAndDatabase(rest)
        let (host, port) = try Self.hostAndPort(hosts, defaultPort: 6379)
        self.init(endpoint: .tcp(host: host, port: port), username: username, password: password, database: database)
    }

    /// `[user:password@]host:port[,host:port…][/db][?query]#name`, after the scheme.
    private init(sentinelURL rest: Substring, tls: Bool) throws(RedisError) {
        guard let hash = rest.firstIndex(of: "#") else {
            throw RedisError(.invalidURL, "a Sentinel URL names its primary after '#', like …/0#mymaster")
        }
        let primaryName = try Self.percentDecode(rest[rest.index(after: hash)...], what: "primary name")
        let beforeName = rest[..<hash]
        let queryStart = beforeName.firstIndex(of: "?") ?? beforeName.endIndex
        let (username, password, hosts, database) = try Self.authorityAndDatabase(beforeName[..<queryStart])
        var nodes: [Sentinel.Node] = []
        for entry in hosts.split(separator: ",", omittingEmptySubsequences: false) {
            let (host, port) = try Self.hostAndPort(entry, defaultPort: 26379)
            nodes.append(Sentinel.Node(host: host, port: port))
        }
        var sentinel = Sentinel(nodes: nodes, primaryName: primaryName)
        var tlsQuery: [Substring] = []
        var seen: Set<Substring> = []
        if queryStart < beforeName.endIndex {
            for pair in beforeName[beforeName.index(after: queryStart)...].split(
                separator: "&",
                omittingEmptySubsequences: false
            ) {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw RedisError(.invalidURL, "a query item lacks '='") }
                guard seen.insert(parts[0]).inserted else {
                    throw RedisError(.invalidURL, "the query item \(parts[0]) appears twice")
                }
                switch parts[0] {
                case "sentinel_username":
                    sentinel.username = try Self.percentDecode(parts[1], what: "sentinel_username")
                case "sentinel_password":
                    sentinel.password = try Self.percentDecode(parts[1], what: "sentinel_password")
                default:
                    guard tls else {
                        throw RedisError(
                            .invalidURL,
                            "unknown query item; expected sentinel_username or sentinel_password (TLS settings need "
                                + "rediss-sentinel://)"
                        )
                    }
                    tlsQuery.append(pair)
                }
            }
        }
        self.init(endpoint: .sentinel(sentinel), username: username, password: password, database: database)
        if tls { self.tls = try Self.tlsSettings(query: Substring(tlsQuery.joined(separator: "&"))) }
    }

    /// `[user:password@]host:port[,host:port…][/0][?query]`, after the scheme.
    private init(clusterURL rest: Substring, tls: Bool) throws(RedisError) {
        guard !rest.contains("#") else { throw RedisError(.invalidURL, "a cluster URL has no fragment") }
        let queryStart = rest.firstIndex(of: "?") ?? rest.endIndex
        guard tls || queryStart == rest.endIndex else {
            throw RedisError(.invalidURL, "a query string holds TLS settings, which need rediss-cluster://")
        }
        let (username, password, hosts, database) = try Self.authorityAndDatabase(rest[..<queryStart])
        var seeds: [Cluster.Node] = []
        for entry in hosts.split(separator: ",", omittingEmptySubsequences: false) {
            let (host, port) = try Self.hostAndPort(entry, defaultPort: 6379)
            seeds.append(Cluster.Node(host: host, port: port))
        }
        self.init(
            endpoint: .cluster(Cluster(seeds: seeds)),
            username: username,
            password: password,
            database: database
        )
        if tls { self.tls = try Self.tlsSettings(query: rest[queryStart...].dropFirst()) }
    }

    /// Splits `[user[:password]@]hosts[/db]` (no query, no fragment) into its decoded parts.
    private static func authorityAndDatabase(
        _ rest: Substring
    ) throws(RedisError) -> (username: String?, password: String?, hosts: Substring, database: Int) {
        var username: String?
        var password: String?
        // The authority ends at the first "/"; the user info at its last "@".
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        if let at = authority.lastIndex(of: "@") {
            let userInfo = authority[..<at]
            authority = authority[authority.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                let user = try percentDecode(userInfo[..<colon], what: "user")
                username = user.isEmpty ? nil : user
                password = try percentDecode(userInfo[userInfo.index(after: colon)...], what: "password")
            } else {
                // `redis://secret@host` is the password-only form many clients accept.
                password = try percentDecode(userInfo, what: "password")
            }
        }
        var database = 0
        let path = rest[authorityEnd...].dropFirst()
        if !path.isEmpty {
            guard isDigits(path), let value = Int(path) else {
                throw RedisError(.invalidURL, "the path must be a database number, like /0")
            }
            database = value
        }
        return (username, password, authority, database)
    }

    /// Parses `host[:port]` or `[ipv6][:port]`.
    private static func hostAndPort(
        _ authority: Substring,
        defaultPort: Int
    ) throws(RedisError) -> (host: String, port: Int) {
        let host: String
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                throw RedisError(.invalidURL, "an IPv6 host lacks its closing bracket")
            }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            // Like names below, the literal must not smuggle stray characters through: hex digits, ":" and "."
            // (an embedded IPv4 tail) only.
            guard host.contains(":"), host.utf8.allSatisfy({ isIPv6LiteralByte($0) }) else {
                throw RedisError(.invalidURL, "the IPv6 host in brackets is not an IPv6 address")
            }
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw RedisError(.invalidURL, "unexpected text after the IPv6 host") }
                portText = after.dropFirst()
            }
        } else {
            if let colon = authority.firstIndex(of: ":") {
                host = String(authority[..<colon])
                portText = authority[authority.index(after: colon)...]
            } else {
                host = String(authority)
            }
            guard host.utf8.allSatisfy({ isHostByte($0) }) else {
                throw RedisError(.invalidURL, "the host contains characters a host name cannot have")
            }
        }
        guard !host.isEmpty else { throw RedisError(.invalidURL, "the URL has no host") }
        var port = defaultPort
        if let portText {
            // Digits only: `Int` alone would also accept a sign ("+6379").
            guard isDigits(portText), let value = Int(portText), (1...65535).contains(value) else {
                throw RedisError(.invalidURL, "the port must be a number in 1...65535")
            }
            port = value
        }
        return (host, port)
    }

    private init(unixURL rest: Substring) throws(RedisError) {
        let queryStart = rest.firstIndex(of: "?") ?? rest.endIndex
        let path = try Self.percentDecode(rest[..<queryStart], what: "path")
        guard path.hasPrefix("/") else { throw RedisError(.invalidURL, "a unix:// URL needs an absolute path") }
        var username: String?
        var password: String?
        var database = 0
        if queryStart < rest.endIndex {
            for pair in rest[rest.index(after: queryStart)...].split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw RedisError(.invalidURL, "a query item lacks '='") }
                let value = try Self.percentDecode(parts[1], what: String(parts[0]))
                switch parts[0] {
                case "db":
                    guard Self.isDigits(value[...]), let number = Int(value) else {
                        throw RedisError(.invalidURL, "db must be a non-negative number")
                    }
                    database = number
                case "user": username = value
                case "password": password = value
                default: throw RedisError(.invalidURL, "unknown query item; expected db, user or password")
                }
            }
        }
        self.init(endpoint: .unix(path: path), username: username, password: password, database: database)
    }

    /// The TLS settings of a `rediss://` query (without its "?").
    private static func tlsSettings(query: Substring) throws(RedisError) -> TLS {
        var tls = TLS()
        guard !query.isEmpty else { return tls }
        guard !query.contains("#") else { throw RedisError(.invalidURL, "fragments are not supported in URLs") }
        var seen: Set<Substring> = []
        for pair in query.split(separator: "&", omittingEmptySubsequences: false) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw RedisError(.invalidURL, "a query item lacks '='") }
            guard seen.insert(parts[0]).inserted else {
                throw RedisError(.invalidURL, "the query item \(parts[0]) appears twice")
            }
            let value = try percentDecode(parts[1], what: String(parts[0]))
            switch parts[0] {
            case "ca_file": tls.caFile = value
            case "ca_dir": tls.caDirectory = value
            case "cert_file": tls.certificateFile = value
            case "key_file": tls.keyFile = value
            case "server_name": tls.serverName = value
            case "insecure_skip_verify":
                switch value {
                case "true": tls.insecureSkipVerify = true
                case "false": tls.insecureSkipVerify = false
                default: throw RedisError(.invalidURL, "insecure_skip_verify must be true or false")
                }
            default:
                throw RedisError(
                    .invalidURL,
                    "unknown query item; expected ca_file, ca_dir, cert_file, key_file, server_name or "
                        + "insecure_skip_verify"
                )
            }
        }
        return tls
    }

    /// Whether `text` is a non-empty run of ASCII digits (no sign, no spaces).
    private static func isDigits(_ text: Substring) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
    }

    private static func isIPv6LiteralByte(_ byte: UInt8) -> Bool {
        hexValue(byte) != nil || byte == UInt8(ascii: ":") || byte == UInt8(ascii: ".")
    }

    private static func isHostByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "_"):
            true
        default: false
        }
    }

    private static func percentDecode(_ text: Substring, what: String) throws(RedisError) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                throw RedisError(.invalidURL, "the \(what) has a bad percent-escape")
            }
            bytes.append(high << 4 | low)
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else {
            throw RedisError(.invalidURL, "the \(what) is not valid UTF-8 after percent-decoding")
        }
        return decoded
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
