import RedisClient

extension SentinelTopology {
    /// `redis-sentinel://[:password@]127.0.0.1:p1,127.0.0.1:p2,.../0#primaryName`: every sentinel, the data nodes'
    /// password (percent-encoded). Not for logs when a password is set.
    public var sentinelURL: String {
        sentinelURL(sentinelPasswordParameter: nil)
    }

    /// ``sentinelURL`` with the sentinels' password, when there is one, as the query parameter `name`
    /// (`...?name=secret#primaryName`).
    public func sentinelURL(sentinelPasswordParameter name: String?) -> String {
        let userInfo = options.password.map { ":\(URLText.percentEncoded($0))@" } ?? ""
        let hosts = sentinels.map { "127.0.0.1:\($0.port)" }.joined(separator: ",")
        var query = ""
        if let name, let password = options.sentinelPassword {
            query = "?\(URLText.percentEncoded(name))=\(URLText.percentEncoded(password))"
        }
        return "redis-sentinel://\(userInfo)\(hosts)/0\(query)#\(URLText.percentEncoded(primaryName))"
    }

    /// `redis://[:password@]127.0.0.1:port/0` of a data node: a direct connection that bypasses the sentinels.
    public func nodeURL(port: Int) -> String {
        let userInfo = options.password.map { ":\(URLText.percentEncoded($0))@" } ?? ""
        return "redis://\(userInfo)127.0.0.1:\(port)/0"
    }
}
