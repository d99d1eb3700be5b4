/// Printing a configuration never shows its password: `print`, string interpolation, `String(reflecting:)`,
/// `dump` and `Mirror` all see `***` in its place.
extension RedisConfiguration: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The password shown in place of a real one.
    static let redactedPassword = "***"

    /// The same as ``redactedDescription``: the URL with `***` for the password.
    public var description: String { redactedDescription }

    /// Every setting, with `***` for the password.
    public var debugDescription: String {
        "RedisConfiguration(\(redactedDescription), username: \(username.map { "\"\($0)\"" } ?? "nil"), "
            + "password: \(password == nil ? "nil" : Self.redactedPassword), connectTimeout: \(connectTimeout), "
            + "commandTimeout: \(commandTimeout), keepAlive: \(keepAlive), "
            + "clientName: \(clientName.map { "\"\($0)\"" } ?? "nil"), tls: \(tls.map { "\($0)" } ?? "nil"))"
    }

    /// The stored properties, with `***` for the password (`nil` when there is none).
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "endpoint": endpoint,
                "username": username as Any,
                "password": password.map { _ in Self.redactedPassword } as Any,
                "database": database,
                "connectTimeout": connectTimeout,
                "commandTimeout": commandTimeout,
                "keepAlive": keepAlive,
                "clientName": clientName as Any,
                "tls": tls as Any,
            ],
            displayStyle: .struct
        )
    }

    /// `url` with its password replaced by `***`, for logs and messages; the rest of the text is kept as written.
    ///
    /// Works on any text, also one that ``init(url:)`` rejects: the password of `scheme://user:password@host`
    /// (everything before the last `@` when the user info is malformed) and every `password=` query item are
    /// replaced, and so is every `sentinel_password=` item. A text that holds no password comes back unchanged.
    public static func redactingPassword(inURL url: String) -> String {
        var redacted = ""
        var rest = Substring(url)
        if let schemeEnd = url.firstRange(of: "://") {
            redacted = String(url[..<schemeEnd.upperBound])
            rest = url[schemeEnd.upperBound...]
        }
        // A socket path may hold "@": in a unix:// URL only the query can carry a password.
        if redacted != "unix://", let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            if let colon = userInfo.firstIndex(of: ":"),
                !userInfo[..<colon].contains(where: { "/?#&=".contains($0) })
            {
                // user:password@host: the user is kept.
                redacted += userInfo[...colon] + (userInfo[userInfo.index(after: colon)...].isEmpty ? "" : "***")
            } else {
                // password@host, or malformed user info: everything before the "@" may be secret.
                redacted += "***"
            }
            rest = rest[at...]
        }
        // A Sentinel URL names its primary after the first "#", after the query: kept as written when it is a valid
        // name (anything else may be the rest of a password and is redacted with the query).
        var fragment = Substring("")
        if redacted.hasSuffix("-sentinel://"), let hash = rest.firstIndex(of: "#") {
            let name = rest[rest.index(after: hash)...]
            if !name.isEmpty, !name.utf8.contains(where: { $0 <= 32 || $0 >= 127 || "?&=#@/%".utf8.contains($0) }) {
                fragment = rest[hash...]
                rest = rest[..<hash]
            }
        }
        guard let questionMark = rest.firstIndex(of: "?") else { return redacted + rest + fragment }
        redacted += rest[...questionMark]
        let items = rest[rest.index(after: questionMark)...].split(separator: "&", omittingEmptySubsequences: false)
        return redacted
            + items.map { item in
                for name in ["password=", "sentinel_password="] where item.hasPrefix(name) {
                    return item.count == name.count ? item : name + "***"
                }
                // An item without "=" may be the rest of a password that held an "&".
                return item.isEmpty || item.contains("=") ? item : "***"
            }.joined(separator: "&") + fragment
    }
}

/// Printing Sentinel settings never shows the sentinels' password.
extension RedisConfiguration.Sentinel: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The sentinels, the primary's name, the user, and `***` for a password.
    public var description: String {
        "Sentinel(nodes: \(nodes.map(\.description).joined(separator: ",")), primaryName: \(primaryName), "
            + "username: \(username ?? "nil"), password: \(password == nil ? "nil" : RedisConfiguration.redactedPassword))"
    }

    /// The same as ``description``.
    public var debugDescription: String { description }

    /// The stored properties, with `***` for the password (`nil` when there is none).
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "nodes": nodes,
                "primaryName": primaryName,
                "username": username as Any,
                "password": password.map { _ in RedisConfiguration.redactedPassword } as Any,
            ],
            displayStyle: .struct
        )
    }
}
