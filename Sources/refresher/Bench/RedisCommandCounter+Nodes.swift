import RedisClient

extension RedisCommandCounter {
    /// A counter of every node that serves `url`: the server itself for `redis://`, `rediss://` and
    /// `redis-sentinel://` URLs (a sentinel URL reaches the primary), every primary of the cluster for
    /// `redis-cluster://` and `rediss-cluster://` URLs (``clusterPrimaries(_:)``).
    static func counting(_ url: String) async throws -> RedisCommandCounter {
        guard let seeds = clusterSeedURLs(url) else { return RedisCommandCounter(nodeURLs: [url]) }
        return RedisCommandCounter(nodeURLs: try await clusterPrimaries(seeds))
    }

    /// The seed nodes of a `redis-cluster://[user:password@]host:port[,host:port…][/db][?query]` URL as single-node
    /// URLs (`redis://[user:password@]host:port[?query]`, `rediss://` for `rediss-cluster://`); `nil` for any other
    /// URL.
    static func clusterSeedURLs(_ url: String) -> [String]? {
        let schemes = ["redis-cluster://": "redis://", "rediss-cluster://": "rediss://"]
        guard let (clusterScheme, nodeScheme) = schemes.first(where: { url.hasPrefix($0.key) }) else { return nil }
        let rest = url.dropFirst(clusterScheme.count)
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        // A cluster has database 0 only: the path is dropped, the query (TLS settings) kept.
        let query = rest[authorityEnd...].firstIndex(of: "?").map { String(rest[$0...]) } ?? ""
        var userInfo = ""
        var hosts = Substring(authority)
        if let at = authority.lastIndex(of: "@") {
            userInfo = String(authority[...at])
            hosts = authority[authority.index(after: at)...]
        }
        let seeds = hosts.split(separator: ",").map { "\(nodeScheme)\(userInfo)\($0)\(query)" }
        return seeds.isEmpty ? nil : seeds
    }

    /// The primaries of the cluster, from `CLUSTER NODES` of the first seed that answers, as URLs like the seed's.
    static func clusterPrimaries(_ seeds: [String]) async throws -> [String] {
        var lastError: (any Error)?
        for seed in seeds {
            do {
                let connection = try RedisConnection(url: seed)
                defer { connection.close() }
                let nodes = try await connection.send("CLUSTER", "NODES").string ?? ""
                let primaries = primaryAddresses(inClusterNodes: nodes)
                guard !primaries.isEmpty else { continue }
                return primaries.map { replacingAddress(of: seed, with: $0) }
            } catch {
                lastError = error
            }
        }
        throw CLIError("no seed of the cluster listed its primaries: \(lastError.map { "\($0)" } ?? "none answered")")
    }

    /// `host:port` of every connected primary in a `CLUSTER NODES` reply
    /// (`<id> <ip:port@cport[,hostname]> <flags> <primary> <ping> <pong> <epoch> <link> <slots…>`).
    static func primaryAddresses(inClusterNodes reply: String) -> [String] {
        reply.split(whereSeparator: \.isNewline).compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count >= 8 else { return nil }
            let flags = fields[2].split(separator: ",")
            guard flags.contains("master"), !flags.contains("fail"), !flags.contains("noaddr"),
                fields[7] == "connected"
            else { return nil }
            let address = fields[1].prefix { $0 != "@" && $0 != "," }
            return address.isEmpty ? nil : String(address)
        }
    }

    /// `url` (`scheme://[userinfo@]host:port[?query]`) with `host:port` replaced by `address`.
    static func replacingAddress(of url: String, with address: String) -> String {
        guard let schemeEnd = url.range(of: "://") else { return url }
        let rest = url[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        let userInfo = authority.lastIndex(of: "@").map { String(authority[...$0]) } ?? ""
        return String(url[..<schemeEnd.upperBound]) + userInfo + address + rest[authorityEnd...]
    }
}
