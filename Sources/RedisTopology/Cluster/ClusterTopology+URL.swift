import RedisClient

extension ClusterTopology {
    /// `redis-cluster://[:password@]127.0.0.1:p1,127.0.0.1:p2,...`: the primaries at start as seed nodes, the
    /// password percent-encoded. Not for logs when a password is set.
    public var seedURL: String {
        let hosts = nodes.prefix(options.primaries).map { "127.0.0.1:\($0.port)" }.joined(separator: ",")
        return "redis-cluster://\(userInfo)\(hosts)"
    }

    /// `redis://[:password@]127.0.0.1:port` of one node: a direct connection, which answers `MOVED` for the keys of
    /// slots it does not serve.
    public func nodeURL(port: Int) -> String {
        "redis://\(userInfo)127.0.0.1:\(port)"
    }

    private var userInfo: String {
        options.password.map { ":\(URLText.percentEncoded($0))@" } ?? ""
    }
}
