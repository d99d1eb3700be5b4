import DemoIdentityProvider

extension DemoIdentityProvider {
    /// Serves this provider on a free loopback port, runs `body` with the server, and stops the server whether or
    /// not `body` throws.
    func withServer<T>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (DemoIdentityProvider.Server) async throws -> T
    ) async throws -> T {
        let server = try await serve()
        do {
            let result = try await body(server)
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }
}
