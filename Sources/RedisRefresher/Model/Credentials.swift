import RedisClient

/// The shared session as a worker sees it: tokens plus the generation that orders refreshes.
///
/// `description` never shows a token, only a short fingerprint.
public struct Credentials: Sendable, Hashable, CustomStringConvertible {
    /// The access token to send as `Authorization: Bearer ...`.
    public var accessToken: String
    /// The (rotating) refresh token.
    public var refreshToken: String
    /// When the access token expires, in milliseconds since the Unix epoch; `nil` when unknown.
    public var expiresAtMilliseconds: Int64?
    /// Incremented by one with every refresh or replacement; a refresh "after" credentials of generation g only
    /// happens while the stored generation is still g.
    public var generation: Int64
    /// When this generation was stored, in milliseconds since the Unix epoch (Redis `TIME`).
    public var refreshedAtMilliseconds: Int64?
    /// The owner id of the worker that stored it.
    public var refreshedBy: String?
    /// The lineage: a random id given to a session stored fresh (a seed, a new login). Generations count within
    /// a lineage; a new lineage supersedes an older one whatever its generation (after Redis lost its data, say).
    public var lineage: String?

    public init(
        accessToken: String,
        refreshToken: String,
        expiresAtMilliseconds: Int64?,
        generation: Int64,
        refreshedAtMilliseconds: Int64? = nil,
        refreshedBy: String? = nil,
        lineage: String? = nil
    ) {
        self.lineage = lineage
        self.accessToken = accessToken
        self.refreshToken = refreshToken
        self.expiresAtMilliseconds = expiresAtMilliseconds
        self.generation = generation
        self.refreshedAtMilliseconds = refreshedAtMilliseconds
        self.refreshedBy = refreshedBy
    }

    /// Whether the access token expires within `margin` from now (false when the expiry is unknown).
    public func isExpired(margin: Duration = .zero) -> Bool {
        isExpired(atMilliseconds: UnixTime.nowMilliseconds, margin: margin)
    }

    /// Whether the access token expires within `margin` of `nowMilliseconds`, milliseconds since the Unix epoch
    /// (false when the expiry is unknown).
    public func isExpired(atMilliseconds nowMilliseconds: Int64, margin: Duration = .zero) -> Bool {
        guard let expiresAtMilliseconds else { return false }
        return expiresAtMilliseconds - margin.wholeMilliseconds <= nowMilliseconds
    }

    /// Whether these credentials supersede `other`: another lineage, or a newer generation of the same one
    /// (credentials without a lineage, from before lineages existed or made by hand, compare by generation only).
    public func supersedes(_ other: Credentials) -> Bool {
        if let lineage, let otherLineage = other.lineage, lineage != otherLineage { return true }
        return generation > other.generation
    }

    public var description: String {
        "Credentials(generation: \(generation), access: \(TokenFingerprint.of(accessToken)), "
            + "refresh: \(TokenFingerprint.of(refreshToken)), expiresAt: \(expiresAtMilliseconds.map(String.init) ?? "nil"))"
    }
}

/// What a refresh function returns: the new tokens from the identity provider.
public struct RefreshedTokens: Sendable, Hashable, CustomStringConvertible {
    /// The new access token (must not be empty).
    public var accessToken: String
    /// The new refresh token; `nil` keeps the current one (servers that do not rotate).
    public var refreshToken: String?
    /// When the new access token expires, in milliseconds since the Unix epoch; `nil` when unknown.
    public var expiresAtMilliseconds: Int64?

    /// Tokens with an absolute expiry.
    public init(accessToken: String, refreshToken: String?, expiresAtMilliseconds: Int64?) {
        self.accessToken = accessToken
        self.refreshToken = refreshToken
        self.expiresAtMilliseconds = expiresAtMilliseconds
    }

    /// Tokens that expire `expiresIn` from now (OAuth's `expires_in`).
    public init(accessToken: String, refreshToken: String?, expiresIn: Duration) {
        self.init(
            accessToken: accessToken,
            refreshToken: refreshToken,
            expiresAtMilliseconds: UnixTime.nowMilliseconds + expiresIn.wholeMilliseconds
        )
    }

    public var description: String {
        "RefreshedTokens(access: \(TokenFingerprint.of(accessToken)), refresh: \(refreshToken.map(TokenFingerprint.of) ?? "unchanged"))"
    }
}

/// A short, non-reversible name for a token, for logs and operator output: `sha1:1a2b3c4d`.
public enum TokenFingerprint {
    /// The first 8 hex digits of the token's SHA-1.
    public static func of(_ token: String) -> String {
        token.isEmpty ? "empty" : "sha1:" + SHA1.hexDigest(token.utf8).prefix(8)
    }
}
