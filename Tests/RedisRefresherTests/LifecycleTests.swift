import Logging
import RedisRefresher
import RedisTestSupport
import ServiceLifecycle
import ServiceLifecycleTestKit
import Synchronization
import Testing

extension RefresherFeatures {
    @Suite("Service lifecycle")
    struct LifecycleTests {
        @Test("Graceful shutdown leaves an in-flight refresh's lock to expire, fails callers, ends streams, closes")
        func gracefulShutdownReleasesTheLock() async throws {
            let scenario = try Scenario()
            let configuration = scenario.configuration(shutdownGracePeriod: .milliseconds(300))
            // A refresh that outlives the grace period.
            let hanging: RedisRefresher.RefreshFunction = { _ in
                try await Task.sleep(for: .seconds(60))
                throw RefreshFailure.notProcessed("unreachable")
            }
            try await withRefresher(scenario.refresher(configuration, refresh: hanging)) { refresher in
                try await withRefresher(scenario.refresher(configuration)) { observer in
                    let seeded = try await scenario.seedWithoutReading(by: refresher)
                    try await waitUntil(timeout: .seconds(15), "subscriptions confirmed") {
                        refresher.isListeningForEvents && observer.isListeningForEvents
                    }
                    let ownEvents = refresher.events()
                    let observed = Mutex<[RefresherEvent]>([])
                    let observing = Task {
                        for await event in observer.events() { observed.withLock { $0.append(event) } }
                    }
                    defer { observing.cancel() }
                    let ownStreamEnded = Task { for await _ in ownEvents {} }
                    try await testGracefulShutdown { trigger in
                        let service = Task { try await refresher.run() }
                        let caller = Task {
                            try await refresher.refreshAccessTokenOrReLogin(after: seeded, timeout: .seconds(30))
                        }
                        try await waitUntil(timeout: .seconds(15), "this worker holds the lock") {
                            try await scenario.isLockHeld(by: refresher.connections.ownerID)
                        }
                        let lock = try await scenario.lockValue()
                        try await waitUntil(timeout: .seconds(15), "the token is being presented") {
                            try await scenario.sessionField("attempt_by") == lock
                        }
                        trigger.triggerGracefulShutdown()
                        try await service.value
                        // The request may still be answered: releasing the lock would let another worker present the
                        // same refresh token. It is left to expire.
                        #expect(try await scenario.lockValue() == lock)
                        do {
                            _ = try await caller.value
                            Issue.record("the caller should fail")
                        } catch let error as RefresherError {
                            #expect(error.code == .shutdown)
                        }
                    }
                    await ownStreamEnded.value
                    #expect(!observed.withLock { $0.contains { if case .released = $0 { true } else { false } } })
                    // The connections the refresher owns are closed.
                    await #expect(throws: RedisError.self) { try await refresher.connections.commands.send("PING") }
                    await #expect(throws: RefresherError.self) {
                        _ = try await refresher.refreshAccessTokenOrReLogin(after: seeded, timeout: .seconds(1))
                    }
                }
            }
        }

        @Test("In a ServiceGroup, shared connections and their refreshers stop on the group's graceful shutdown")
        func serviceGroupWithSharedConnections() async throws {
            let scenario = try Scenario()
            try await withRefresherConnections { connections in
                let first = try await RedisRefresher(
                    configuration: scenario.configuration(),
                    connections: connections,
                    refresh: scenario.refreshFunction()
                )
                var other = scenario.configuration()
                other.session = scenario.session + "-b"
                let second = try await RedisRefresher(
                    configuration: other,
                    connections: connections,
                    refresh: scenario.refreshFunction()
                )
                let seeded = try await scenario.seed(using: first)
                var logger = Logger(label: "test")
                logger.logLevel = .critical
                let group = ServiceGroup(
                    configuration: .init(
                        services: [connections, first, second],
                        gracefulShutdownSignals: [],
                        logger: logger
                    )
                )
                let running = Task { try await group.run() }
                // Serving while the group runs.
                #expect(
                    try await first.refreshAccessTokenOrReLogin(after: seeded, timeout: .seconds(10)).generation == 2
                )
                await group.triggerGracefulShutdown()
                try await running.value
                for refresher in [first, second] {
                    await #expect(throws: RefresherError.self) {
                        _ = try await refresher.refreshAccessTokenOrReLogin(
                            after: Credentials(
                                accessToken: "a",
                                refreshToken: "r",
                                expiresAtMilliseconds: nil,
                                generation: 99
                            ),
                            timeout: .seconds(1)
                        )
                    }
                }
                await #expect(throws: RedisError.self) { try await connections.commands.send("PING") }
            }
        }
    }
}
