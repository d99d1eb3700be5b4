import Foundation
import RedisRefresher
import RedisTestSupport
import Synchronization
import Testing

@Suite("Lock lifetime")
struct LockLifetimeTests {
    @Test("A refresh longer than a third of the TTL extends the lock, so nobody takes over")
    func lockIsExtended() async throws {
        let scenario = try Scenario()
        // TTL 1.5 s, extended every 500 ms: wide enough that a loaded CI machine still extends in time.
        try await withRefresher(scenario.refresher(latency: .milliseconds(4000), lockTTL: .milliseconds(1500))) {
            refresher in
            let initial = try await scenario.seed(using: refresher)
            let holder = Task { try await refresher.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(20)) }
            let owner = refresher.connections.ownerID
            try await waitUntil(timeout: .seconds(5), "the lock is taken") { try await scenario.isLockHeld(by: owner) }
            // A second worker with the same TTL waits instead of taking over, although the TTL passes twice over.
            try await withRefresher(scenario.refresher(lockTTL: .milliseconds(1500), pollInterval: .milliseconds(100)))
            { other in
                let waiter = Task { try await other.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(20)) }
                let fresh = try await holder.value
                #expect(try await waiter.value.generation == fresh.generation)
                #expect(try await scenario.idp.refreshCount() == 1)
                #expect(try await scenario.stat("takeovers") == 0)
            }
        }
    }

    @Test("shutdown() leaves the lock of a refresh in flight to expire; never touches a foreign one")
    func shutdownLeavesInFlightLock() async throws {
        let scenario = try Scenario()
        try await withRefresher(scenario.refresher(latency: .seconds(30)), gracePeriod: .milliseconds(100)) {
            refresher in
            let initial = try await scenario.seed(using: refresher)
            let waiter = Task { try await refresher.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(60)) }
            let owner = refresher.connections.ownerID
            try await waitUntil(timeout: .seconds(5), "the lock is ours and the token presented") {
                let lock = try await scenario.lockValue()
                let attempt = try await scenario.sessionField("attempt_by")
                return lock?.hasPrefix(owner + "-") == true && attempt == lock
            }
            await refresher.shutdown(gracePeriod: .milliseconds(100))
            // The request may still be answered: releasing would let another worker present the same token.
            #expect(try await scenario.isLockHeld(by: owner))
            #expect(try await scenario.sessionField("attempt_by") == scenario.lockValue())
            let result = await waiter.result
            #expect(throws: RefresherError.self) { try result.get() }

            try await withRefresher(scenario.refresher()) { second in
                try await scenario.redis.send(
                    "SET",
                    RedisArgument(scenario.keys.lock),
                    "someone-else:2:0",
                    "PX",
                    "10000"
                )
                await second.shutdown()
                #expect(try await scenario.lockValue() == "someone-else:2:0")
            }
        }
    }
}
