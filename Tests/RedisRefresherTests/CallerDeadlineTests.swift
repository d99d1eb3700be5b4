import Foundation
import RedisRefresher
import RedisTestSupport
import Synchronization
import Testing

@Suite("Caller deadlines and cancellation")
struct CallerDeadlineTests {
    @Test("A caller whose deadline is shorter than the refresh times out; the others get the result")
    func shortDeadline() async throws {
        let scenario = try Scenario()
        try await withRefresher(scenario.refresher(latency: .milliseconds(800))) { refresher in
            let initial = try await scenario.seed(using: refresher)
            async let patient = refresher.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(20))
            do throws(RefresherError) {
                _ = try await refresher.refreshAccessTokenOrReLogin(after: initial, timeout: .milliseconds(100))
                Issue.record("the short deadline did not time out")
            } catch {
                #expect(error.code == .timeout)
            }
            let fresh = try await patient
            #expect(fresh.generation == initial.generation + 1)
            #expect(try await scenario.idp.refreshCount() == 1)
            #expect(try await scenario.stat("timeouts") >= 0)
        }
    }

    @Test("Cancelling a caller leaves the shared refresh running")
    func cancellationIsLocal() async throws {
        let scenario = try Scenario()
        try await withRefresher(scenario.refresher(latency: .milliseconds(500))) { refresher in
            let initial = try await scenario.seed(using: refresher)
            let doomed = Task { try await refresher.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(20)) }
            let survivor = Task {
                try await refresher.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(20))
            }
            try await waitUntil(timeout: .seconds(5), "the refresh holds the lock") {
                try await scenario.lockValue() != nil
            }
            doomed.cancel()
            let doomedResult = await doomed.result
            #expect(throws: RefresherError.self) { try doomedResult.get() }
            #expect(try await survivor.value.generation == initial.generation + 1)
            #expect(try await scenario.idp.refreshCount() == 1)
        }
    }

    @Test("Callers that all time out leave no flight, task or extra subscription behind")
    func nothingLeftBehind() async throws {
        let scenario = try Scenario()
        try await withRefresher(scenario.refresher()) { refresher in
            let initial = try await scenario.seed(using: refresher)
            // A foreign holder that never finishes: every caller times out while waiting.
            try await scenario.redis.send("SET", RedisArgument(scenario.keys.lock), "stuck:1:0", "PX", "60000")
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<50 {
                    group.addTask {
                        do {
                            _ = try await refresher.refreshAccessTokenOrReLogin(
                                after: initial,
                                timeout: .milliseconds(300)
                            )
                            Issue.record("expected a timeout")
                        } catch {
                            #expect((error as? RefresherError)?.code == .timeout)
                        }
                    }
                }
            }
            try await waitUntil(timeout: .seconds(5), "the abandoned flight is gone") {
                refresher.activeFlightCount == 0
            }
            let subscribers = try await scenario.redis.send("PUBSUB", "NUMSUB", RedisArgument(scenario.keys.events))
            #expect(subscribers.array?.last == .integer(1))
            #expect(try await scenario.lockValue() == "stuck:1:0")
            #expect(try await scenario.stat("timeouts") >= 1)
        }
    }
}
