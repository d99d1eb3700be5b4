import RedisClient

/// Decoding of the `session` hash.
enum SessionRecord {
    /// The largest token accepted from Redis; a bigger value is treated as corrupt rather than passed on.
    static let maximumTokenBytes = 64 * 1024

    /// Decodes an `HGETALL` reply (a flat field/value array); `nil` for an empty hash (no session).
    static func decode(_ value: RedisValue) throws(RefresherError) -> Credentials? {
        guard case .array(let items) = value, items.count % 2 == 0 else {
            throw RefresherError(.corruptSession, "the session hash did not come back as field/value pairs")
        }
        if items.isEmpty { return nil }
        var fields: [String: [UInt8]] = [:]
        var index = 0
        while index < items.count {
            guard let key = items[index].string, let bytes = items[index + 1].bytes else {
                throw RefresherError(.corruptSession, "the session hash holds a non-string field")
            }
            fields[key] = bytes
            index += 2
        }
        func token(_ name: String) throws(RefresherError) -> String {
            guard let bytes = fields[name], !bytes.isEmpty else {
                throw RefresherError(.corruptSession, "the session hash has no \(name)")
            }
            guard bytes.count <= maximumTokenBytes else {
                throw RefresherError(.corruptSession, "the session's \(name) is larger than \(maximumTokenBytes) bytes")
            }
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw RefresherError(.corruptSession, "the session's \(name) is not UTF-8")
            }
            return text
        }
        func integer(_ name: String, required: Bool) throws(RefresherError) -> Int64? {
            guard let bytes = fields[name], !bytes.isEmpty else {
                if required { throw RefresherError(.corruptSession, "the session hash has no \(name)") }
                return nil
            }
            guard bytes.count <= 20, let number = Int64(String(decoding: bytes, as: UTF8.self)) else {
                throw RefresherError(.corruptSession, "the session's \(name) is not an integer")
            }
            return number
        }
        let generation = try integer(SessionField.generation, required: true)!
        guard generation >= 0 else { throw RefresherError(.corruptSession, "the session's generation is negative") }
        return Credentials(
            accessToken: try token(SessionField.accessToken),
            refreshToken: try token(SessionField.refreshToken),
            expiresAtMilliseconds: try integer(SessionField.expiresAt, required: false),
            generation: generation,
            refreshedAtMilliseconds: try integer(SessionField.refreshedAt, required: false),
            refreshedBy: fields[SessionField.refreshedBy].map { String(decoding: $0.prefix(300), as: UTF8.self) },
            lineage: fields[SessionField.lineage].map { String(decoding: $0.prefix(64), as: UTF8.self) }
        )
    }

    /// A new lineage id: 15 hex digits (60 random bits). A session stored fresh (seed, a new login) starts a new
    /// lineage, so caches and callers notice it even when its generation is lower than the one they hold. Fifteen
    /// bytes fit in a small (inline) Swift string: copying credentials on the hot path costs no extra retain.
    static func newLineage() -> String {
        let hex = String(UInt64.random(in: 0..<(1 << 60)), radix: 16)
        return String(repeating: "0", count: 15 - hex.count) + hex
    }

    /// Refuses tokens that would poison the shared session when stored by a seed or a new login: an empty token, or
    /// one larger than ``maximumTokenBytes``.
    static func validate(_ tokens: RefreshedTokens, requireRefreshToken: Bool) throws(RefresherError) {
        if let problem = unstorableReason(tokens, requireRefreshToken: requireRefreshToken) {
            throw RefresherError(.invalidConfiguration, "the tokens cannot be stored: \(problem)")
        }
    }

    /// Why `tokens` cannot be stored, if they cannot. An expiry in the past is storable: it means "expires now".
    static func unstorableReason(_ tokens: RefreshedTokens, requireRefreshToken: Bool) -> String? {
        if tokens.accessToken.isEmpty { return "the access token is empty" }
        if let refreshToken = tokens.refreshToken, refreshToken.isEmpty { return "the refresh token is empty" }
        if requireRefreshToken && tokens.refreshToken == nil { return "the refresh token is missing" }
        if tokens.accessToken.utf8.count > maximumTokenBytes
            || (tokens.refreshToken?.utf8.count ?? 0) > maximumTokenBytes
        {
            return "a token is larger than \(maximumTokenBytes) bytes"
        }
        return nil
    }
}
