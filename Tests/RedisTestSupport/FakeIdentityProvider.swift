import RedisClient

/// A strict, counting identity provider for tests, kept in Redis so that every test process shares it.
///
/// It rotates the refresh token on every refresh and, like an OAuth 2.1 server with reuse detection, revokes the
/// whole token family when a used refresh token is presented again. With a reuse grace (as Auth0, Okta, Cognito or
/// Ory Hydra offer), the refresh token just rotated away may be presented again within the grace: the answer is the
/// current pair, counted as `grace_reuse`, not as reuse. Its counters tell a test how many refreshes happened and
/// whether any token was reused.
public struct FakeIdentityProvider: Sendable {
    public let key: String
    private let connection: RedisConnection

    /// `namespace` keeps providers of concurrent tests apart.
    public init(connection: RedisConnection, namespace: String) {
        self.connection = connection
        self.key = "idp:{\(namespace)}"
    }

    /// The outcome of presenting a refresh token.
    public enum Outcome: Sendable, Equatable {
        case refreshed(accessToken: String, refreshToken: String)
        /// The token was used before (reuse: the family is now revoked), or the family was revoked, or unknown.
        case rejected(String)
    }

    private static let refreshScript = RedisScript(
        """
        if redis.call('HGET', KEYS[1], 'revoked') == '1' then
          redis.call('HINCRBY', KEYS[1], 'after_revoke', 1)
          return {'rejected', 'revoked'}
        end
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local current = redis.call('HGET', KEYS[1], 'refresh_token')
        if current and current == ARGV[1] then
          local n = redis.call('HINCRBY', KEYS[1], 'refreshes', 1)
          local access = 'access-' .. ARGV[2] .. '-' .. n
          local refresh = 'refresh-' .. ARGV[2] .. '-' .. n
          redis.call('HSET', KEYS[1], 'refresh_token', refresh, 'access_token', access, 'previous_token', ARGV[1],
            'rotated_at', now)
          redis.call('SADD', KEYS[2], ARGV[1])
          return {'refreshed', access, refresh}
        end
        local grace = tonumber(redis.call('HGET', KEYS[1], 'grace_ms') or '0') or 0
        if grace > 0 and redis.call('HGET', KEYS[1], 'previous_token') == ARGV[1]
          and now - (tonumber(redis.call('HGET', KEYS[1], 'rotated_at')) or 0) < grace then
          redis.call('HINCRBY', KEYS[1], 'grace_reuse', 1)
          return {'refreshed', redis.call('HGET', KEYS[1], 'access_token'), current}
        end
        if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then
          redis.call('HINCRBY', KEYS[1], 'reuse', 1)
          redis.call('HSET', KEYS[1], 'revoked', '1')
          return {'rejected', 'reuse'}
        end
        redis.call('HINCRBY', KEYS[1], 'unknown', 1)
        return {'rejected', 'unknown'}
        """
    )

    /// Starts a token family; returns its first access and refresh tokens. `grace` is the reuse grace (zero: none).
    public func start(
        salt: String = "t",
        grace: Duration = .zero
    ) async throws -> (
        accessToken: String, refreshToken: String
    ) {
        let access = "access-\(salt)-0"
        let refresh = "refresh-\(salt)-0"
        try await connection.send("DEL", RedisArgument(key), RedisArgument(key + ":used"))
        try await connection.send(
            "HSET",
            RedisArgument(key),
            "refresh_token",
            RedisArgument(refresh),
            "access_token",
            RedisArgument(access),
            "refreshes",
            "0",
            "reuse",
            "0",
            "grace_ms",
            RedisArgument(
                grace.components.seconds * 1000
                    + grace.components.attoseconds / 1_000_000_000_000_000
            )
        )
        return (access, refresh)
    }

    /// Presents a refresh token.
    public func refresh(_ refreshToken: String, salt: String = "t") async throws -> Outcome {
        let reply = try await connection.run(
            Self.refreshScript,
            keys: [RedisArgument(key), RedisArgument(key + ":used")],
            arguments: [RedisArgument(refreshToken), RedisArgument(salt)]
        )
        let parts = reply.array ?? []
        if parts.first?.string == "refreshed", parts.count == 3 {
            return .refreshed(accessToken: parts[1].string ?? "", refreshToken: parts[2].string ?? "")
        }
        return .rejected(parts.dropFirst().first?.string ?? "unknown")
    }

    /// Revokes the family (the next refresh is rejected).
    public func revoke() async throws {
        try await connection.send("HSET", RedisArgument(key), "revoked", "1")
    }

    /// How many refreshes succeeded.
    public func refreshCount() async throws -> Int64 { try await counter("refreshes") }
    /// How many times a used refresh token was presented again outside the grace (a reuse: the family is revoked).
    public func reuseCount() async throws -> Int64 { try await counter("reuse") }
    /// How many times the refresh token just rotated away was presented again inside the grace.
    public func graceReuseCount() async throws -> Int64 { try await counter("grace_reuse") }
    /// How many presentations the test's refresh function counted as refused before they reached the provider.
    public func refusedCount() async throws -> Int64 { try await counter("refused") }

    /// Counts one refused presentation (the test's refresh function decides to refuse), returning the new count.
    public func countRefused() async throws -> Int64 {
        try await connection.send("HINCRBY", RedisArgument(key), "refused", 1).int ?? 0
    }
    /// Whether the family was revoked.
    public func isRevoked() async throws -> Bool {
        try await connection.send("HGET", RedisArgument(key), "revoked").string == "1"
    }

    private func counter(_ field: String) async throws -> Int64 {
        try await connection.send("HGET", RedisArgument(key), RedisArgument(field)).int ?? 0
    }
}
