#if canImport(Glibc)
import Glibc
#endif

/// Starts a `redis-server` of our own, runs `body`, and stops the server whatever happens (after a SIGCONT, in
/// case the body left it stopped).
public func withRedisServer<T>(
    _ arguments: [String] = [],
    isolation: isolated (any Actor)? = #isolation,
    _ body: (RedisServerProcess) async throws -> T
) async throws -> T {
    let server = try await RedisServerProcess(arguments: arguments)
    do {
        let result = try await body(server)
        server.signal(SIGCONT)
        try await server.stop()
        return result
    } catch {
        server.signal(SIGCONT)
        try? await server.stop()
        throw error
    }
}
