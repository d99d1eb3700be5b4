import RedisClient

/// Printing a refresher shows its session and server, never the Redis password or the cached tokens.
extension RedisRefresher: CustomStringConvertible, CustomReflectable {
    /// `RedisRefresher(session: crm-api, redis: redis://:***@127.0.0.1:6379)`.
    public var description: String {
        "RedisRefresher(session: \(session), redis: \(configuration.redactedRedisURL))"
    }

    /// The configuration, keys and connections (each hiding its secrets); not the cached credentials.
    public var customMirror: Mirror {
        Mirror(
            self,
            children: ["configuration": configuration, "keys": keys, "connections": connections],
            displayStyle: .class
        )
    }
}
