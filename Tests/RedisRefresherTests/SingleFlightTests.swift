import Foundation
import RedisRefresher
import RedisTestSupport
import Synchronization
import Testing

/// One refresh per expiry, however many callers in one process (and another process's refresher) ask for it.
@Suite("One refresh per expiry in one process")
struct SingleFlightTests {
    @Test("200 concurrent callers after one expiry cause exactly one refresh")
    func oneRefreshForManyTasks() async throws {
        let scenario = try Scenario()
        try await withRefresher(scenario.refresher(latency: .milliseconds(100))) { refresher in
            let initial = try await scenario.seed(using: refresher)
            let generations = try await withThrowingTaskGroup(of: Int64.self) { group in
                for _ in 0..<200 {
                    group.addTask {
                        try await refresher.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(20))
                            .generation
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(generations.count == 200)
            #expect(Set(generations) == [initial.generation + 1])
            #expect(try await scenario.idp.refreshCount() == 1)
            #expect(try await scenario.idp.reuseCount() == 0)
            #expect(try await scenario.storedGeneration() == initial.generation + 1)
            #expect(try await scenario.lockValue() == nil)
            #expect(try await scenario.stat("refreshes") == 1)
        }
    }

    @Test("A second wave holding the old generation refreshes nothing")
    func secondWaveIsServedFromTheStore() async throws {
        let scenario = try Scenario()
        try await withRefresher(scenario.refresher()) { refresher in
            let initial = try await scenario.seed(using: refresher)
            let fresh = try await refresher.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(10))
            // A second refresher (another worker) that never saw the refresh, holding generation 1.
            try await withRefresher(scenario.refresher()) { other in
                let late = try await withThrowingTaskGroup(of: Credentials.self) { group in
                    for _ in 0..<50 {
                        group.addTask {
                            try await other.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(10))
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(late.allSatisfy { $0.generation == fresh.generation && $0.accessToken == fresh.accessToken })
                #expect(try await scenario.idp.refreshCount() == 1)
                // The cached refresher answers from memory.
                #expect(try await refresher.refreshAccessTokenOrReLogin(after: initial).generation == fresh.generation)
            }
        }
    }

    @Test("A caller arriving right after a failed flight presents again instead of getting that flight's old answer")
    func callerAfterAFailedFlightStartsItsOwn() async throws {
        let scenario = try Scenario()
        var configuration = scenario.configuration()
        configuration.retry = .init(maximumAttempts: 1)
        let presented = Atomic<Int>(0)
        // The provider is down: nothing was processed, so the token stays valid and every new call may present it.
        let refresh: RedisRefresher.RefreshFunction = { _ in
            presented.add(1, ordering: .relaxed)
            throw RefreshFailure.notProcessed("HTTP 503")
        }
        try await withRefresher(scenario.refresher(configuration, refresh: refresh)) { refresher in
            let seeded = try await scenario.seedWithoutReading(by: refresher)
            // The finished flight stays registered until its task's cleanup runs; each call here comes in that window.
            for round in 1...200 {
                await #expect(throws: RefresherError.self) {
                    try await refresher.refreshAccessTokenOrReLogin(after: seeded, timeout: .seconds(10))
                }
                #expect(presented.load(ordering: .relaxed) == round)
            }
        }
    }

    @Test("Waiters resolve through the poll fallback when no message is ever published")
    func pollFallback() async throws {
        let scenario = try Scenario()
        try await withRefresher(scenario.refresher(pollInterval: .milliseconds(200))) { refresher in
            let initial = try await scenario.seed(using: refresher)
            // Another worker "holds" the lock and will write the result without publishing anything.
            try await scenario.redis.send("SET", RedisArgument(scenario.keys.lock), "silent-holder:1:0", "PX", "10000")
            let waiter = Task { try await refresher.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(10)) }
            try await waitUntil(timeout: .seconds(5), "the waiter is waiting") { try await scenario.stat("waits") >= 1 }
            try await scenario.redis.send(
                "HSET",
                RedisArgument(scenario.keys.sessionHash),
                "generation",
                RedisArgument(initial.generation + 1),
                "access_token",
                "silent-access"
            )
            let fresh = try await waiter.value
            #expect(fresh.generation == initial.generation + 1)
            #expect(fresh.accessToken == "silent-access")
            // The waiter never touched the foreign lock.
            #expect(try await scenario.lockValue() == "silent-holder:1:0")
        }
    }

    @Test("Many sessions share one pair of connections")
    func multiSession() async throws {
        try await withRefresherConnections { connections in
            var refreshers: [(Scenario, RedisRefresher, Credentials)] = []
            for index in 0..<5 {
                let scenario = try Scenario(name: "tenant\(index)")
                // Shut down with the shared connections.
                let refresher = try await RedisRefresher(
                    configuration: scenario.configuration(),
                    connections: connections,
                    refresh: scenario.refreshFunction()
                )
                refreshers.append((scenario, refresher, try await scenario.seed(using: refresher)))
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (_, refresher, initial) in refreshers {
                    for _ in 0..<10 {
                        group.addTask {
                            let fresh = try await refresher.refreshAccessTokenOrReLogin(
                                after: initial,
                                timeout: .seconds(10)
                            )
                            #expect(fresh.generation == initial.generation + 1)
                        }
                    }
                }
                try await group.waitForAll()
            }
            for (scenario, _, _) in refreshers { #expect(try await scenario.idp.refreshCount() == 1) }
        }
    }
}
