import RedisClient

/// Printing the shared connections shows the owner id and the server without the password.
extension RefresherConnections: CustomStringConvertible, CustomReflectable {
    /// `RefresherConnections(owner: host:42:ab12cd34, redis: redis://:***@127.0.0.1:6379/0)`.
    public var description: String {
        "RefresherConnections(owner: \(ownerID), redis: \(commands.configuration.redactedDescription))"
    }

    /// The owner id and the command connection (whose mirror hides the password).
    public var customMirror: Mirror {
        Mirror(self, children: ["ownerID": ownerID, "commands": commands], displayStyle: .class)
    }
}
