import RedisRefresher

/// Opens shared refresher connections to `url` (with `commandTimeout`), runs `body` with them, and shuts them (and every refresher using
/// them) down whether or not `body` throws.
public func withRefresherConnections<T>(
    url: String = TestRedis.url,
    commandTimeout: Duration = .seconds(3),
    isolation: isolated (any Actor)? = #isolation,
    _ body: (RefresherConnections) async throws -> T
) async throws -> T {
    let connections = try RefresherConnections(url: url, commandTimeout: commandTimeout)
    do {
        let result = try await body(connections)
        await connections.shutdown()
        return result
    } catch {
        await connections.shutdown()
        throw error
    }
}
