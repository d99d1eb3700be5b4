import Foundation
import RedisRefresher
import RedisTestSupport
import Synchronization
import Testing

@Suite("One process")
struct SingleProcessTests {
    @Test("200 concurrent callers after one expiry cause exactly one refresh")
    func oneRefreshForManyTasks() async throws {
        let scenario = try Scenario()
        let refresher = try await scenario.refresher(latency: .milliseconds(100))
        let initial = try await scenario.seed(using: refresher)
        let generations = try await withThrowingTaskGroup(of: Int64.self) { group in
            for _ in 0..<200 {
                group.addTask {
                    try await refresher.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(20)).generation
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
        await refresher.shutdown()
    }

    @Test("A second wave holding the old generation refreshes nothing")
    func secondWaveIsServedFromTheStore() async throws {
        let scenario = try Scenario()
        let refresher = try await scenario.refresher()
        let initial = try await scenario.seed(using: refresher)
        let fresh = try await refresher.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(10))
        // A second refresher (another worker) that never saw the refresh, holding generation 1.
        let other = try await scenario.refresher()
        let late = try await withThrowingTaskGroup(of: Credentials.self) { group in
            for _ in 0..<50 {
                group.addTask { try await other.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(10)) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(late.allSatisfy { $0.generation == fresh.generation && $0.accessToken == fresh.accessToken })
        #expect(try await scenario.idp.refreshCount() == 1)
        // The cached refresher answers from memory.
        #expect(try await refresher.refreshAccessTokenOrReLogin(after: initial).generation == fresh.generation)
        await other.shutdown()
        await refresher.shutdown()
    }

    @Test("credentials() is served from memory once loaded and follows refreshes by other workers")
    func cacheFollowsEvents() async throws {
        let server = try await RedisServerProcess()
        let scenario = try Scenario(url: server.url)
        let reader = try await scenario.refresher()
        let writer = try await scenario.refresher()
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
        await reader.shutdown()
        await writer.shutdown()
    }

    static func commandsProcessed(_ redis: RedisConnection) async throws -> Int {
        let info = try await redis.send("INFO", "stats").string ?? ""
        let line = info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("total_commands_processed:") } ?? ""
        return Int(line.split(separator: ":").last ?? "") ?? -1
    }

    @Test("A rejected refresh token fails every waiter fast with reloginRequired and releases the lock")
    func rejectedRefreshFailsFast() async throws {
        let scenario = try Scenario()
        let refresher = try await scenario.refresher(latency: .milliseconds(100))
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
        let other = try await scenario.refresher()
        await #expect(throws: RefresherError.self) {
            _ = try await other.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(5))
        }
        #expect(try await scenario.redis.send("HGET", RedisArgument(scenario.idp.key), "after_revoke").int == 1)
        // A fresh login clears the rejection.
        let replaced = try await other.replaceSession(
            RefreshedTokens(accessToken: "relogin-access", refreshToken: "relogin-refresh", expiresIn: .seconds(60)))
        #expect(replaced.generation == initial.generation + 1)
        #expect(
            try await scenario.redis.send("HGET", RedisArgument(scenario.keys.sessionHash), "rejected_reason").isNull)
        await other.shutdown()
        await refresher.shutdown()
    }

    @Test("A request the provider did not process is retried by the holder; past the budget, a retryable error")
    func notProcessedFailure() async throws {
        let scenario = try Scenario()
        let attempts = Atomic<Int>(0)
        let refresher = try await RedisRefresher(
            configuration: RefresherConfiguration(
                redisURL: scenario.url, session: scenario.session,
                retry: .init(maximumAttempts: 3, initialBackoff: .milliseconds(10), maximumBackoff: .milliseconds(20))),
            refresh: { _ in
                attempts.add(1, ordering: .relaxed)
                throw RefreshFailure.notProcessed("HTTP 503")
            })
        let initial = try await scenario.seed(using: refresher)
        do {
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
            try await scenario.redis.send("HGET", RedisArgument(scenario.keys.sessionHash), "attempt_by").string == nil)
        // Not processed means the token was not used: the next call presents it again.
        _ = try? await refresher.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(10))
        #expect(attempts.load(ordering: .relaxed) == 6)
        await refresher.shutdown()
    }

    @Test("Refused twice, then processed: callers wait through the holder's retries and get the refresh")
    func notProcessedThenSucceeds() async throws {
        let scenario = try Scenario()
        let attempts = Atomic<Int>(0)
        let idp = scenario.idp
        let refresher = try await scenario.refresher(refresh: { current in
            if attempts.add(1, ordering: .relaxed).newValue <= 2 { throw RefreshFailure.notProcessed("refused") }
            guard case .refreshed(let access, let refresh) = try await idp.refresh(current.refreshToken) else {
                throw RefreshFailure.rejected("invalid_grant")
            }
            return RefreshedTokens(accessToken: access, refreshToken: refresh, expiresIn: .seconds(60))
        })
        let initial = try await scenario.seed(using: refresher)
        let results = try await withThrowingTaskGroup(of: Credentials.self) { group in
            for _ in 0..<20 {
                group.addTask { try await refresher.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(10)) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.count == 20 && results.allSatisfy { $0.generation == initial.generation + 1 })
        #expect(attempts.load(ordering: .relaxed) == 3)
        #expect(try await scenario.idp.refreshCount() == 1)
        #expect(try await scenario.idp.reuseCount() == 0)
        await refresher.shutdown()
    }

    @Test("A caller whose deadline is shorter than the refresh times out; the others get the result")
    func shortDeadline() async throws {
        let scenario = try Scenario()
        let refresher = try await scenario.refresher(latency: .milliseconds(800))
        let initial = try await scenario.seed(using: refresher)
        async let patient = refresher.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(20))
        do {
            _ = try await refresher.refreshAccessTokenOrReLogin(after: initial, timeout: .milliseconds(100))
            Issue.record("the short deadline did not time out")
        } catch {
            #expect(error.code == .timeout)
        }
        let fresh = try await patient
        #expect(fresh.generation == initial.generation + 1)
        #expect(try await scenario.idp.refreshCount() == 1)
        #expect(try await scenario.stat("timeouts") >= 0)
        await refresher.shutdown()
    }

    @Test("Cancelling a caller leaves the shared refresh running")
    func cancellationIsLocal() async throws {
        let scenario = try Scenario()
        let refresher = try await scenario.refresher(latency: .milliseconds(500))
        let initial = try await scenario.seed(using: refresher)
        let doomed = Task { try await refresher.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(20)) }
        let survivor = Task { try await refresher.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(20)) }
        try await waitUntil(timeout: .seconds(5), "the refresh holds the lock") {
            try await scenario.lockValue() != nil
        }
        doomed.cancel()
        let doomedResult = await doomed.result
        #expect(throws: RefresherError.self) { try doomedResult.get() }
        #expect(try await survivor.value.generation == initial.generation + 1)
        #expect(try await scenario.idp.refreshCount() == 1)
        await refresher.shutdown()
    }

    @Test("A refresh function that hangs past refreshTimeout is an unknown outcome: recorded, lock freed, not retried")
    func hangingRefreshFunction() async throws {
        let scenario = try Scenario()
        let calls = Atomic<Int>(0)
        let refresher = try await RedisRefresher(
            configuration: .init(
                redisURL: scenario.url, session: scenario.session, refreshTimeout: .milliseconds(300)),
            refresh: { _ in
                calls.add(1, ordering: .relaxed)
                try? await Task.sleep(for: .seconds(3600))
                throw CancellationError()
            })
        let initial = try await scenario.seed(using: refresher)
        do {
            _ = try await refresher.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(10))
            Issue.record("expected a failure")
        } catch {
            #expect(error.code == .outcomeUnknown)
            #expect(!error.isRetryable)
        }
        #expect(try await scenario.lockValue() == nil)
        // Nobody presents that token again, in this process or another: the next call fails at once.
        let other = try await scenario.refresher()
        let started = ContinuousClock.now
        await #expect(throws: RefresherError.self) {
            _ = try await other.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(10))
        }
        #expect(ContinuousClock.now - started < .seconds(2))
        #expect(calls.load(ordering: .relaxed) == 1)
        let status = try await SessionAdmin(connection: scenario.redis, keys: scenario.keys).status()
        #expect(status.unknownOutcomeReason != nil)
        await other.shutdown()
        // The hanging call may still answer: shutdown waits for it up to its grace period, here a short one.
        await refresher.shutdown(gracePeriod: .milliseconds(100))
    }

    @Test("Unusable tokens from the refresh function are not stored")
    func unusableTokens() async throws {
        let scenario = try Scenario()
        let refresher = try await scenario.refresher(refresh: { _ in
            RefreshedTokens(accessToken: "", refreshToken: "r", expiresIn: .seconds(60))
        })
        let initial = try await scenario.seed(using: refresher)
        await #expect(throws: RefresherError.self) {
            _ = try await refresher.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(10))
        }
        #expect(try await scenario.storedGeneration() == initial.generation)
        #expect(try await refresher.credentials().accessToken == initial.accessToken)
        await refresher.shutdown()
    }

    @Test("Waiters resolve through the poll fallback when no message is ever published")
    func pollFallback() async throws {
        let scenario = try Scenario()
        let refresher = try await scenario.refresher(pollInterval: .milliseconds(200))
        let initial = try await scenario.seed(using: refresher)
        // Another worker "holds" the lock and will write the result without publishing anything.
        try await scenario.redis.send("SET", RedisArgument(scenario.keys.lock), "silent-holder:1:0", "PX", "10000")
        let waiter = Task { try await refresher.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(10)) }
        try await waitUntil(timeout: .seconds(5), "the waiter is waiting") { try await scenario.stat("waits") >= 1 }
        try await scenario.redis.send(
            "HSET", RedisArgument(scenario.keys.sessionHash), "generation", RedisArgument(initial.generation + 1),
            "access_token", "silent-access")
        let fresh = try await waiter.value
        #expect(fresh.generation == initial.generation + 1)
        #expect(fresh.accessToken == "silent-access")
        // The waiter never touched the foreign lock.
        #expect(try await scenario.lockValue() == "silent-holder:1:0")
        await refresher.shutdown()
    }

    @Test("shutdown() leaves the lock of a refresh in flight to expire; never touches a foreign one")
    func shutdownLeavesInFlightLock() async throws {
        let scenario = try Scenario()
        let refresher = try await scenario.refresher(latency: .seconds(30))
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

        let second = try await scenario.refresher()
        try await scenario.redis.send("SET", RedisArgument(scenario.keys.lock), "someone-else:2:0", "PX", "10000")
        await second.shutdown()
        #expect(try await scenario.lockValue() == "someone-else:2:0")
    }

    @Test("Seeding is idempotent: the first writer wins")
    func seedFirstWriterWins() async throws {
        let scenario = try Scenario()
        let refresher = try await scenario.refresher()
        let first = try await refresher.seedSession(
            RefreshedTokens(accessToken: "a1", refreshToken: "r1", expiresIn: .seconds(60)))
        let second = try await refresher.seedSession(
            RefreshedTokens(accessToken: "a2", refreshToken: "r2", expiresIn: .seconds(60)))
        #expect(first.seeded)
        #expect(!second.seeded)
        #expect(second.0.accessToken == "a1")
        #expect(second.0.generation == 1)
        await refresher.shutdown()
    }

    @Test("Many sessions share one pair of connections")
    func multiSession() async throws {
        let connections = try RefresherConnections(url: TestRedis.url)
        var refreshers: [(Scenario, RedisRefresher, Credentials)] = []
        for index in 0..<5 {
            let scenario = try Scenario(name: "tenant\(index)")
            let refresher = try await RedisRefresher(
                configuration: scenario.configuration(), connections: connections,
                refresh: scenario.refreshFunction())
            refreshers.append((scenario, refresher, try await scenario.seed(using: refresher)))
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (_, refresher, initial) in refreshers {
                for _ in 0..<10 {
                    group.addTask {
                        let fresh = try await refresher.refreshAccessTokenOrReLogin(
                            after: initial, timeout: .seconds(10))
                        #expect(fresh.generation == initial.generation + 1)
                    }
                }
            }
            try await group.waitForAll()
        }
        for (scenario, _, _) in refreshers { #expect(try await scenario.idp.refreshCount() == 1) }
        await connections.shutdown()
    }

    @Test("Credentials and errors never print a token")
    func noTokensInDescriptions() async throws {
        let credentials = Credentials(
            accessToken: "secret-access-xyz", refreshToken: "secret-refresh-xyz", expiresAtMilliseconds: 1,
            generation: 3)
        #expect(!credentials.description.contains("secret"))
        #expect(credentials.description.contains("generation: 3"))
        let tokens = RefreshedTokens(accessToken: "secret-a", refreshToken: "secret-r", expiresIn: .seconds(1))
        #expect(!tokens.description.contains("secret"))
    }
}

@Suite("Lock lifetime")
struct LockLifetimeTests {
    @Test("A refresh longer than a third of the TTL extends the lock, so nobody takes over")
    func lockIsExtended() async throws {
        let scenario = try Scenario()
        // TTL 1.5 s, extended every 500 ms: wide enough that a loaded CI machine still extends in time.
        let refresher = try await scenario.refresher(latency: .milliseconds(4000), lockTTL: .milliseconds(1500))
        let initial = try await scenario.seed(using: refresher)
        let holder = Task { try await refresher.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(20)) }
        let owner = refresher.connections.ownerID
        try await waitUntil(timeout: .seconds(5), "the lock is taken") { try await scenario.isLockHeld(by: owner) }
        // A second worker with the same TTL waits instead of taking over, although the TTL passes twice over.
        let other = try await scenario.refresher(lockTTL: .milliseconds(1500), pollInterval: .milliseconds(100))
        let waiter = Task { try await other.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(20)) }
        let fresh = try await holder.value
        #expect(try await waiter.value.generation == fresh.generation)
        #expect(try await scenario.idp.refreshCount() == 1)
        #expect(try await scenario.stat("takeovers") == 0)
        await other.shutdown()
        await refresher.shutdown()
    }

    @Test("Callers that all time out leave no flight, task or extra subscription behind")
    func nothingLeftBehind() async throws {
        let scenario = try Scenario()
        let refresher = try await scenario.refresher()
        let initial = try await scenario.seed(using: refresher)
        // A foreign holder that never finishes: every caller times out while waiting.
        try await scenario.redis.send("SET", RedisArgument(scenario.keys.lock), "stuck:1:0", "PX", "60000")
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<50 {
                group.addTask {
                    do {
                        _ = try await refresher.refreshAccessTokenOrReLogin(after: initial, timeout: .milliseconds(300))
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
        await refresher.shutdown()
    }
}
