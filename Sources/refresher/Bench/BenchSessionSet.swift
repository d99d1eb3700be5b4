import RedisClient
import RedisRefresher

/// The throwaway sessions of the sessions benchmarks, `<prefix>-<index>`: stored before a run and deleted after it,
/// through one connection of the benchmark's own.
struct BenchSessionSet: Sendable {
    let prefix: String
    let count: Int
    private let connection: RedisConnection

    /// A new set under a random prefix, on the server (or cluster) at `redisURL`.
    init(count: Int, kind: String, redisURL: String) throws {
        prefix = "bench-\(kind)-\(String(UInt32.random(in: .min ... .max), radix: 36))"
        self.count = count
        // The one place the benchmark itself writes session keys: every session's keys share a hash tag, so a client
        // that routes by key reaches each session's node.
        connection = try RedisConnection(url: redisURL)
    }

    func keys(_ index: Int) throws -> SessionKeys {
        SessionKeys(session: try SessionName("\(prefix)-\(index)"))
    }

    /// Stores every session (as after a fresh login), 256 at a time.
    func store(tokens: @escaping @Sendable (Int) -> RefreshedTokens) async throws {
        let connection = self.connection
        try await forEachSession { index in
            let admin = SessionAdmin(connection: connection, keys: try keys(index))
            _ = try await admin.putSession(tokens(index), by: "bench")
        }
    }

    /// Deletes every key of every session (best effort, like ``RedisConnection/deleteStoredKeys(of:)``), then
    /// closes the connection.
    func deleteAndClose() async {
        let connection = self.connection
        try? await forEachSession { index in await connection.deleteStoredKeys(of: try keys(index)) }
        connection.close()
    }

    private func forEachSession(_ body: @escaping @Sendable (Int) async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<count {
                if index >= 256 { try await group.next() }
                group.addTask { try await body(index) }
            }
            try await group.waitForAll()
        }
    }
}
