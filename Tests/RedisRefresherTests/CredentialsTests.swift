import Foundation
import RedisRefresher
import RedisTestSupport
import Synchronization
import Testing

@Suite("Credentials: cache, seeding, unusable tokens, descriptions")
struct CredentialsTests {
    @Test("credentials() is served from memory once loaded and follows refreshes by other workers")
    func cacheFollowsEvents() async throws {
        try await withRedisServer { server in
            let scenario = try Scenario(url: server.url)
            try await withRefresher(scenario.refresher()) { reader in
                try await withRefresher(scenario.refresher()) { writer in
                    let initial = try await scenario.seed(using: writer)
                    #expect(try await reader.credentials().generation == initial.generation)
                    let before = try await Self.commandsProcessed(scenario.redis)
                    for _ in 0..<1000 { _ = try await reader.credentials() }
                    let after = try await Self.commandsProcessed(scenario.redis)
                    // Only the INFO command itself was processed in between: no round trip per read.
                    #expect(after - before <= 2)
                    let fresh = try await writer.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(10))
                    try await waitUntil(timeout: .seconds(5), "the reader sees the new generation") {
                        try await reader.credentials().generation == fresh.generation
                    }
                    #expect(try await reader.credentials().accessToken == fresh.accessToken)
                }
            }
        }
    }

    static func commandsProcessed(_ redis: RedisConnection) async throws -> Int {
        let info = try await redis.send("INFO", "stats").string ?? ""
        let line = info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("total_commands_processed:") } ?? ""
        return Int(line.split(separator: ":").last ?? "") ?? -1
    }

    @Test("Seeding is idempotent: the first writer wins")
    func seedFirstWriterWins() async throws {
        let scenario = try Scenario()
        try await withRefresher(scenario.refresher()) { refresher in
            let first = try await refresher.seedSession(
                RefreshedTokens(accessToken: "a1", refreshToken: "r1", expiresIn: .seconds(60))
            )
            let second = try await refresher.seedSession(
                RefreshedTokens(accessToken: "a2", refreshToken: "r2", expiresIn: .seconds(60))
            )
            #expect(first.seeded)
            #expect(!second.seeded)
            #expect(second.0.accessToken == "a1")
            #expect(second.0.generation == 1)
        }
    }

    @Test("Unusable tokens from the refresh function are not stored")
    func unusableTokens() async throws {
        let scenario = try Scenario()
        try await withRefresher(
            scenario.refresher(refresh: { _ in
                RefreshedTokens(accessToken: "", refreshToken: "r", expiresIn: .seconds(60))
            })
        ) { refresher in
            let initial = try await scenario.seed(using: refresher)
            await #expect(throws: RefresherError.self) {
                _ = try await refresher.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(10))
            }
            #expect(try await scenario.storedGeneration() == initial.generation)
            #expect(try await refresher.credentials().accessToken == initial.accessToken)
        }
    }

    @Test("Credentials and errors never print a token")
    func noTokensInDescriptions() async throws {
        let credentials = Credentials(
            accessToken: "secret-access-xyz",
            refreshToken: "secret-refresh-xyz",
            expiresAtMilliseconds: 1,
            generation: 3
        )
        #expect(!credentials.description.contains("secret"))
        #expect(credentials.description.contains("generation: 3"))
        let tokens = RefreshedTokens(accessToken: "secret-a", refreshToken: "secret-r", expiresIn: .seconds(1))
        #expect(!tokens.description.contains("secret"))
    }
}
