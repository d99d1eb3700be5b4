import RedisClient

/// Printing the admin helper shows the session and the server without the password.
extension SessionAdmin: CustomStringConvertible, CustomReflectable {
    /// `SessionAdmin(session: crm-api, redis: redis://:***@127.0.0.1:6379/0)`.
    public var description: String {
        "SessionAdmin(session: \(keys.session), redis: \(connection.configuration.redactedDescription))"
    }

    /// The connection (whose mirror hides the password) and the keys.
    public var customMirror: Mirror {
        Mirror(self, children: ["connection": connection, "keys": keys], displayStyle: .struct)
    }
}
