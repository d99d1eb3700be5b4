import InMemoryLogging
import Logging
import RedisRefresher
import RedisTestSupport
import Testing

extension RefresherFeatures {
    @Suite("Logging")
    struct LoggingTests {
        @Test("Structured metadata (session, owner, generation, outcome, duration) at info or below; never a token")
        func structuredAndSecretFree() async throws {
            let scenario = try Scenario()
            let handler = InMemoryLogHandler()
            var logger = Logger(label: "test") { _ in handler }
            logger.logLevel = .trace
            let (seeded, fresh, holderOwner, waiterOwner) = try await withRefresher(
                scenario.refresher(latency: .milliseconds(200), logger: logger)
            ) { holder in
                try await withRefresher(scenario.refresher(logger: logger)) { waiter in
                    let seeded = try await scenario.seedWithoutReading(by: holder)
                    async let refreshed = holder.refreshAccessTokenOrReLogin(after: seeded, timeout: .seconds(10))
                    try await waitUntil(timeout: .seconds(15), "the holder takes the lock") {
                        try await scenario.lockValue() != nil
                    }
                    let fresh = try await waiter.refreshAccessTokenOrReLogin(after: seeded, timeout: .seconds(10))
                    _ = try await refreshed
                    // A failure too: the identity provider refuses the next refresh.
                    try await scenario.idp.revoke()
                    _ = try? await holder.refreshAccessTokenOrReLogin(after: fresh, timeout: .seconds(10))
                    return (seeded, fresh, holder.connections.ownerID, waiter.connections.ownerID)
                }
            }

            let entries = handler.entries
            #expect(!entries.isEmpty)
            #expect(entries.allSatisfy { $0.level <= .info }, "\(entries.filter { $0.level > .info })")
            let done = try #require(entries.first { $0.message.description == "refreshed" })
            #expect(done.level == .info)
            #expect(done.metadata["session"]?.description == scenario.session)
            #expect(done.metadata["owner"]?.description == holderOwner)
            #expect(done.metadata["generation"]?.description == "\(fresh.generation)")
            #expect(done.metadata["outcome"]?.description == "refreshed")
            #expect(Int(done.metadata["duration_ms"]?.description ?? "") ?? 0 >= 200)
            let failed = try #require(entries.first { $0.message.description == "refresh failed" })
            #expect(failed.metadata["outcome"]?.description == "rejected")
            #expect(failed.metadata["session"]?.description == scenario.session)
            #expect(entries.contains { $0.metadata["owner"]?.description == waiterOwner })

            let secrets = [seeded.accessToken, seeded.refreshToken, fresh.accessToken, fresh.refreshToken]
            for entry in entries {
                let metadata = entry.metadata.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
                let text = entry.message.description + " " + metadata
                for secret in secrets { #expect(!text.contains(secret), "\(text)") }
            }
        }
    }
}
