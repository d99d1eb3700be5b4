import Foundation
import RedisRefresher
import RedisTestSupport
import Synchronization
import Testing

@Suite("Refresh failures: rejected, not processed, hanging")
struct RefreshFailureTests {
    @Test("A rejected refresh token fails every waiter fast with reloginRequired and releases the lock")
    func rejectedRefreshFailsFast() async throws {
        let scenario = try Scenario()
        try await withRefresher(scenario.refresher(latency: .milliseconds(100))) { refresher in
            let initial = try await scenario.seed(using: refresher)
            try await scenario.idp.revoke()
            let started = ContinuousClock.now
            let errors = await withTaskGroup(of: RefresherError?.self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        do {
                            _ = try await refresher.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(30))
                            return nil
                        } catch { return error as? RefresherError }
                    }
                }
                return await group.reduce(into: [RefresherError?]()) { $0.append($1) }
            }
            #expect(errors.count == 20)
            #expect(errors.allSatisfy { $0?.code == .reloginRequired })
            // "Fast": far below the 30 s deadline (the bound is generous; the point is that nobody waited it out).
            #expect(ContinuousClock.now - started < .seconds(10))
            #expect(try await scenario.lockValue() == nil)
            #expect(try await scenario.stat("failures") == 1)
            // Another worker learns it from the store without presenting the dead token again.
            try await withRefresher(scenario.refresher()) { other in
                await #expect(throws: RefresherError.self) {
                    _ = try await other.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(5))
                }
                #expect(try await scenario.redis.send("HGET", RedisArgument(scenario.idp.key), "after_revoke").int == 1)
                // A fresh login clears the rejection.
                let replaced = try await other.replaceSession(
                    RefreshedTokens(
                        accessToken: "relogin-access",
                        refreshToken: "relogin-refresh",
                        expiresIn: .seconds(60)
                    )
                )
                #expect(replaced.generation == initial.generation + 1)
                #expect(
                    try await scenario.redis.send("HGET", RedisArgument(scenario.keys.sessionHash), "rejected_reason")
                        .isNull
                )
            }
        }
    }

    @Test("A request the provider did not process is retried by the holder; past the budget, a retryable error")
    func notProcessedFailure() async throws {
        let scenario = try Scenario()
        let attempts = Atomic<Int>(0)
        try await withRefresher(
            RedisRefresher(
                configuration: RefresherConfiguration(
                    redisURL: scenario.url,
                    session: scenario.session,
                    retry: .init(
                        maximumAttempts: 3,
                        initialBackoff: .milliseconds(10),
                        maximumBackoff: .milliseconds(20)
                    )
                ),
                refresh: { _ in
                    attempts.add(1, ordering: .relaxed)
                    throw RefreshFailure.notProcessed("HTTP 503")
                }
            )
        ) { refresher in
            let initial = try await scenario.seed(using: refresher)
            do throws(RefresherError) {
                _ = try await refresher.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(10))
                Issue.record("expected a failure")
            } catch {
                #expect(error.code == .refreshFailed)
                #expect(error.isRetryable)
                #expect(error.message.contains("HTTP 503"))
            }
            // One holder, three presentations, then the lock is free and the token still usable.
            #expect(attempts.load(ordering: .relaxed) == 3)
            #expect(try await scenario.lockValue() == nil)
            #expect(try await scenario.storedGeneration() == initial.generation)
            #expect(
                try await scenario.redis.send("HGET", RedisArgument(scenario.keys.sessionHash), "attempt_by").string
                    == nil
            )
            // Not processed means the token was not used: the next call presents it again.
            _ = try? await refresher.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(10))
            #expect(attempts.load(ordering: .relaxed) == 6)
        }
    }

    @Test("Refused twice, then processed: callers wait through the holder's retries and get the refresh")
    func notProcessedThenSucceeds() async throws {
        let scenario = try Scenario()
        let attempts = Atomic<Int>(0)
        let idp = scenario.idp
        try await withRefresher(
            scenario.refresher(refresh: { current in
                if attempts.add(1, ordering: .relaxed).newValue <= 2 { throw RefreshFailure.notProcessed("refused") }
                guard case .refreshed(let access, let refresh) = try await idp.refresh(current.refreshToken) else {
                    throw RefreshFailure.rejected("invalid_grant")
                }
                return RefreshedTokens(accessToken: access, refreshToken: refresh, expiresIn: .seconds(60))
            })
        ) { refresher in
            let initial = try await scenario.seed(using: refresher)
            let results = try await withThrowingTaskGroup(of: Credentials.self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        try await refresher.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(10))
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.count == 20 && results.allSatisfy { $0.generation == initial.generation + 1 })
            #expect(attempts.load(ordering: .relaxed) == 3)
            #expect(try await scenario.idp.refreshCount() == 1)
            #expect(try await scenario.idp.reuseCount() == 0)
        }
    }

    @Test("A refresh function that hangs past refreshTimeout is an unknown outcome: recorded, lock freed, not retried")
    func hangingRefreshFunction() async throws {
        let scenario = try Scenario()
        let calls = Atomic<Int>(0)
        // The hanging call may still answer: shutdown waits for it up to its grace period, here a short one.
        try await withRefresher(
            RedisRefresher(
                configuration: .init(
                    redisURL: scenario.url,
                    session: scenario.session,
                    refreshTimeout: .milliseconds(300)
                ),
                refresh: { _ in
                    calls.add(1, ordering: .relaxed)
                    try? await Task.sleep(for: .seconds(3600))
                    throw CancellationError()
                }
            ),
            gracePeriod: .milliseconds(100)
        ) { refresher in
            let initial = try await scenario.seed(using: refresher)
            do throws(RefresherError) {
                _ = try await refresher.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(10))
                Issue.record("expected a failure")
            } catch {
                #expect(error.code == .outcomeUnknown)
                #expect(!error.isRetryable)
            }
            #expect(try await scenario.lockValue() == nil)
            // Nobody presents that token again, in this process or another: the next call fails at once.
            try await withRefresher(scenario.refresher()) { other in
                let started = ContinuousClock.now
                await #expect(throws: RefresherError.self) {
                    _ = try await other.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(10))
                }
                #expect(ContinuousClock.now - started < .seconds(2))
                #expect(calls.load(ordering: .relaxed) == 1)
                let status = try await SessionAdmin(connection: scenario.redis, keys: scenario.keys).status()
                #expect(status.unknownOutcomeReason != nil)
            }
        }
    }
}
