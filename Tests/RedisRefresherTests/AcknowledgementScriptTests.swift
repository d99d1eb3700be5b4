import Foundation
import RedisTestSupport
import Testing

@testable import RedisRefresher

/// The scripts behind replica acknowledgement, against a real redis-server: giving back what was taken without
/// presenting anything, and finding a stored session again.
@Suite("Acknowledgement scripts")
struct AcknowledgementScriptTests {
    static let owner = "w:1:a-1"

    /// A seeded session whose lock `owner` took and whose attempt it recorded.
    static func presented(_ scenario: Scenario, _ seeder: RedisRefresher) async throws -> (SessionStore, Credentials) {
        let initial = try await scenario.seed(using: seeder)
        let store = ProtocolTests.store(scenario)
        _ = try await store.check(ProtocolTests.request(owner, generation: initial.generation))
        #expect(try await store.present(owner: owner, generation: initial.generation, ttl: .seconds(10)) == .recorded)
        return (store, initial)
    }

    @Test("Withdraw gives back the lock and a first attempt record; the same acquisition then takes the lock afresh")
    func withdrawFirstAttempt() async throws {
        let scenario = try Scenario(name: "w-first")
        try await withRefresher(scenario.refresher()) { seeder in
            let (store, initial) = try await Self.presented(scenario, seeder)
            #expect(try await store.withdraw(owner: Self.owner, reason: "unacknowledged").released)
            #expect(try await scenario.lockValue() == nil)
            #expect(try await scenario.sessionField("attempt_by") == nil)
            // Nothing suggests the token was presented: no grace to count, no attempt to wait for.
            let again = try await store.check(ProtocolTests.request(Self.owner, generation: initial.generation))
            guard case .acquired(_, _, let graceElapsed) = again else {
                Issue.record("not acquired again: \(again)")
                return
            }
            #expect(graceElapsed == nil)
        }
    }

    @Test("Withdraw keeps a record that follows an earlier presentation, and never touches another holder's lock")
    func withdrawKeepsWhatIsNotItsOwn() async throws {
        let scenario = try Scenario(name: "w-keep")
        try await withRefresher(scenario.refresher()) { seeder in
            let (store, initial) = try await Self.presented(scenario, seeder)
            // A second presentation under the same lock: the first one may have used the token. (Once the server's
            // millisecond clock has moved on, so the two records' times differ.)
            let first = try #require(Int64(try await scenario.sessionField("attempt_at") ?? ""))
            try await waitUntil(timeout: .seconds(5), "the server clock passes the first attempt") {
                let time = try await scenario.redis.send("TIME").array ?? []
                let now = (time.first?.int ?? 0) * 1000 + (time.dropFirst().first?.int ?? 0) / 1000
                return now > first
            }
            #expect(
                try await store.present(owner: Self.owner, generation: initial.generation, ttl: .seconds(10))
                    == .recorded
            )
            #expect(try await store.withdraw(owner: Self.owner, reason: "unacknowledged").released)
            #expect(try await scenario.lockValue() == nil)
            #expect(try await scenario.sessionField("attempt_by") == Self.owner)
            // Another holder's lock stays; a first record of ours goes even so (after a failover the lock may be
            // another worker's while our record came along).
            try await scenario.redis.send("HDEL", RedisArgument(scenario.keys.sessionHash), "attempt_by")
            try await scenario.redis.send("SET", RedisArgument(scenario.keys.lock), "w:2:b-1", "PX", "10000")
            #expect(try await !store.withdraw(owner: Self.owner, reason: "unacknowledged").released)
            #expect(try await scenario.lockValue() == "w:2:b-1")
        }
    }

    @Test("Withdraw leaves the record of a token whose outcome was recorded as unknown")
    func withdrawKeepsRecordedOutcome() async throws {
        let scenario = try Scenario(name: "w-outcome")
        try await withRefresher(scenario.refresher()) { seeder in
            let (store, initial) = try await Self.presented(scenario, seeder)
            try await scenario.redis.send(
                "HSET",
                RedisArgument(scenario.keys.sessionHash),
                "unknown_generation",
                RedisArgument(initial.generation)
            )
            _ = try await store.withdraw(owner: Self.owner, reason: "unacknowledged")
            #expect(try await scenario.sessionField("attempt_by") == Self.owner)
        }
    }

    @Test("Confirm finds the holder's session, a session that went back (store again), or one that went on")
    func confirm() async throws {
        let scenario = try Scenario(name: "confirm")
        try await withRefresher(scenario.refresher()) { seeder in
            let (store, initial) = try await Self.presented(scenario, seeder)
            let tokens = RefreshedTokens(accessToken: "a2", refreshToken: "r2", expiresIn: .seconds(3600))
            let outcome = try await store.commit(tokens, after: initial, by: Self.owner, duration: .zero)
            guard case .committed(let generation, _) = outcome else {
                Issue.record("not committed: \(outcome)")
                return
            }
            var stored = initial
            stored.generation = generation
            #expect(try await store.confirm(stored, by: Self.owner) == .present(replicas: nil))
            #expect(try await store.confirm(stored, by: "w:9:z-1") == .moved)
            // A failover back to g: store again.
            try await scenario.redis.send(
                "HSET",
                RedisArgument(scenario.keys.sessionHash),
                "generation",
                RedisArgument(initial.generation)
            )
            #expect(try await store.confirm(stored, by: Self.owner) == .lost)
            // Gone altogether: store again too.
            try await scenario.redis.send("DEL", RedisArgument(scenario.keys.sessionHash))
            #expect(try await store.confirm(stored, by: Self.owner) == .lost)
            // A new login (another lineage): it went on.
            _ = try await store.seed(tokens, by: "login")
            #expect(try await store.confirm(stored, by: Self.owner) == .moved)
        }
    }
}
