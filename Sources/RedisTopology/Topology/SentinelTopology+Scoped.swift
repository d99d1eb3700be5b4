extension SentinelTopology {
    /// Starts a topology, runs `body` with it, and shuts it down whatever happens; waits first while another scoped
    /// topology of this process runs (see ``TopologyGate``).
    public static func with<T>(
        _ options: Options = Options(),
        timeout: Duration = .seconds(30),
        isolation: isolated (any Actor)? = #isolation,
        _ body: (SentinelTopology) async throws -> T
    ) async throws -> T {
        try await TopologyGate.scoped(
            start: { try await start(options, timeout: timeout) },
            shutdown: { await $0.shutdown() },
            body
        )
    }
}
