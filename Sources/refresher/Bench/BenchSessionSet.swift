import RedisClient
import RedisRefresher

/// The throwaway sessions of the sessions benchmarks, `<prefix>-<index>`: stored before a run and deleted after it.
struct BenchSessionSet: Sendable {
    let prefix: String
    let count: Int

    /// A new set under a random prefix.
    init(count: Int, kind: String) {
        prefix = "bench-\(kind)-\(String(UInt32.random(in: .min ... .max), radix: 36))"
        self.count = count
    }

    func keys(_ index: Int) throws -> SessionKeys {
        SessionKeys(session: try SessionName("\(prefix)-\(index)"))
    }

    /// Stores every session (as after a fresh login), 256 at a time over one connection.
    func store(
        on connection: RedisConnection,
        tokens: @escaping @Sendable (Int) -> RefreshedTokens
    ) async throws {
        try await forEachSession { index in
            _ = try await SessionAdmin(connection: connection, keys: try keys(index)).putSession(
                tokens(index),
                by: "bench"
            )
        }
    }

    /// Deletes every key of every session: best effort, like ``RedisConnection/deleteStoredKeys(of:)``.
    func delete(on connection: RedisConnection) async {
        try? await forEachSession { index in await connection.deleteStoredKeys(of: try keys(index)) }
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
