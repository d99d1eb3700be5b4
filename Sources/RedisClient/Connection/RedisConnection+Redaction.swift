/// Printing a connection shows its server without the password.
extension RedisConnection: CustomStringConvertible, CustomReflectable {
    /// `RedisConnection(redis://:***@127.0.0.1:6379/0)`.
    public var description: String { "RedisConnection(\(configuration.redactedDescription))" }

    /// The configuration only (whose own mirror hides the password); never the queued commands.
    public var customMirror: Mirror { Mirror(self, children: ["configuration": configuration], displayStyle: .class) }
}
