/// A Redis URL's text split into its parts without decoding anything, so the command can add a password or query
/// items and keep the rest as written.
///
/// The split follows ``RedisConfiguration/init(url:)``: the fragment starts at the first `#`, the query at the first
/// `?` before it, the path at the first `/` after the scheme, and the user info ends at the last `@` before the path.
/// It checks nothing: whoever changes a URL parses the result with ``RedisConfiguration/init(url:)``.
struct RedisURLText: Sendable, Equatable {
    /// `redis://`, `rediss://`, `unix://`, `redis-sentinel://`, `rediss-sentinel://`, `redis-cluster://`,
    /// `rediss-cluster://`, or whatever the text has before its first `://` (empty when it has none).
    var scheme: Substring
    /// The text before the last `@` of the authority; `nil` without an `@` (always `nil` for `unix://`, whose path
    /// may hold an `@`).
    var userInfo: Substring?
    /// The hosts (or a socket path) and the path, up to the query.
    var location: Substring
    /// The query's items as written, in order; empty without a query or with an empty one.
    var query: [Substring]
    /// The text after the `#` (a Sentinel URL's primary name); `nil` without a `#`.
    var fragment: Substring?

    init(_ url: String) {
        var rest = Substring(url)
        if let schemeEnd = rest.firstRange(of: "://") {
            scheme = rest[..<schemeEnd.upperBound]
            rest = rest[schemeEnd.upperBound...]
        } else {
            scheme = ""
        }
        fragment = nil
        if let hash = rest.firstIndex(of: "#") {
            fragment = rest[rest.index(after: hash)...]
            rest = rest[..<hash]
        }
        query = []
        if let questionMark = rest.firstIndex(of: "?") {
            let items = rest[rest.index(after: questionMark)...]
            query = items.isEmpty ? [] : items.split(separator: "&", omittingEmptySubsequences: false)
            rest = rest[..<questionMark]
        }
        userInfo = nil
        if scheme != "unix://" {
            let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
            if let at = rest[..<authorityEnd].lastIndex(of: "@") {
                userInfo = rest[..<at]
                rest = rest[rest.index(after: at)...]
            }
        }
        location = rest
    }

    /// The URL again.
    var text: String {
        var text = String(scheme)
        if let userInfo { text += userInfo + "@" }
        text += location
        if !query.isEmpty { text += "?" + query.joined(separator: "&") }
        if let fragment { text += "#" + fragment }
        return text
    }

    /// Whether the URL names a primary through Redis Sentinel (`redis-sentinel://` or `rediss-sentinel://`).
    var isSentinel: Bool { scheme == "redis-sentinel://" || scheme == "rediss-sentinel://" }

    /// Whether the URL names the seed nodes of a Redis Cluster (`redis-cluster://` or `rediss-cluster://`).
    var isCluster: Bool { scheme == "redis-cluster://" || scheme == "rediss-cluster://" }

    /// Whether the URL connects over TLS (`rediss://`, `rediss-sentinel://` or `rediss-cluster://`).
    var isTLS: Bool { scheme == "rediss://" || scheme == "rediss-sentinel://" || scheme == "rediss-cluster://" }

    /// The names of the query items, as written (`ca_file` of `ca_file=/ca.pem`).
    var queryNames: Set<Substring> {
        Set(query.map { item in item.split(separator: "=", maxSplits: 1).first ?? item })
    }

    /// The user name of the user info (before its `:`); empty when there is none.
    var user: Substring {
        guard let userInfo, let colon = userInfo.firstIndex(of: ":") else { return "" }
        return userInfo[..<colon]
    }
}
