import RedisClient

/// Printing a configuration never shows the Redis password its ``RefresherConfiguration/redisURL`` may hold: every
/// way of printing or reflecting it sees the URL with `***` for the password.
extension RefresherConfiguration: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// ``redisURL`` with the password replaced by `***`, for logs.
    public var redactedRedisURL: String { RedisConfiguration.redactingPassword(inURL: redisURL) }

    /// `RefresherConfiguration(redisURL: "redis://:***@host:6379", session: "crm-api", ...)`: every setting.
    public var description: String {
        let settings = customMirror.children.map { child in
            let value = child.value as? String
            return "\(child.label ?? "?"): " + (value.map { "\"\($0)\"" } ?? Self.text(child.value))
        }
        return "RefresherConfiguration(" + settings.joined(separator: ", ") + ")"
    }

    /// The same as ``description``.
    public var debugDescription: String { description }

    /// The stored properties, ``redisURL`` with the password replaced by `***`.
    ///
    /// The properties are listed by hand (a test checks the list against the type's stored properties): a new
    /// property must be added here.
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "redisURL": redactedRedisURL,
                "session": session,
                "keyPrefix": keyPrefix,
                "lockTTL": lockTTL,
                "pollInterval": pollInterval,
                "refreshTimeout": refreshTimeout,
                "identityProviderReuseGrace": identityProviderReuseGrace,
                "retry": retry,
                "commitBudget": commitBudget,
                "defaultTimeout": defaultTimeout,
                "wakeUp": wakeUp,
                "refreshAhead": refreshAhead as Any,
                "refreshAheadSpread": refreshAheadSpread,
                "shutdownGracePeriod": shutdownGracePeriod,
                "replicaAcknowledgement": replicaAcknowledgement as Any,
            ],
            displayStyle: .struct
        )
    }

    /// A value as text, `nil` for an empty optional.
    private static func text(_ value: Any) -> String {
        let mirror = Mirror(reflecting: value)
        guard mirror.displayStyle == .optional else { return "\(value)" }
        return mirror.children.first.map { "\($0.value)" } ?? "nil"
    }
}
