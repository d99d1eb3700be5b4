import RedisRefresher
import RedisTestSupport

extension SessionAdmin {
    /// Opens a connection to `url`, runs `body` with an admin of session `name`, and deletes every key the refresher
    /// stores for that session (and closes the connection) whether or not `body` throws.
    static func with<T>(
        session name: String,
        url: String = TestRedis.url,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (SessionAdmin) async throws -> T
    ) async throws -> T {
        let redis = try RedisConnection(url: url)
        defer { redis.close() }
        let admin = SessionAdmin(connection: redis, keys: SessionKeys(session: try SessionName(name)))
        do {
            let result = try await body(admin)
            try await admin.deleteStoredKeys()
            return result
        } catch {
            try? await admin.deleteStoredKeys()
            throw error
        }
    }

    /// Deletes every key the refresher stores for this session.
    func deleteStoredKeys() async throws {
        _ = try await connection.send(RedisCommand([RedisArgument("DEL")] + keys.storedKeys.map { RedisArgument($0) }))
    }
}
