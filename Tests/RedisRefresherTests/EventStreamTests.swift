import RedisRefresher
import RedisTestSupport
import Synchronization
import Testing

extension RefresherFeatures {
    @Suite("Event stream")
    struct EventStreamTests {
        @Test("events() delivers the fleet's refreshed, replaced and failed events, and ends on shutdown")
        func fleetEvents() async throws {
            let scenario = try Scenario()
            try await withRefresher(scenario.refresher()) { worker in
                try await withRefresher(scenario.refresher()) { listener in
                    try await waitUntil(timeout: .seconds(15), "subscribed") { listener.isListeningForEvents }
                    let received = Mutex<[RefresherEvent]>([])
                    let stream = listener.events()
                    let reading = Task {
                        for await event in stream { received.withLock { $0.append(event) } }
                        return "ended"
                    }
                    let seeded = try await scenario.seedWithoutReading(by: worker)
                    let fresh = try await worker.refreshAccessTokenOrReLogin(after: seeded, timeout: .seconds(10))
                    let replaced = try await worker.replaceSession(
                        RefreshedTokens(accessToken: "relogin-a", refreshToken: "relogin-r", expiresIn: .seconds(60))
                    )
                    // The identity provider refuses the next refresh.
                    try await scenario.idp.revoke()
                    _ = try? await worker.refreshAccessTokenOrReLogin(after: replaced, timeout: .seconds(10))
                    let owner = worker.connections.ownerID
                    let expected: [RefresherEvent] = [
                        .replaced(generation: seeded.generation, by: owner),
                        .refreshed(generation: fresh.generation, by: owner, durationMilliseconds: nil),
                        .replaced(generation: replaced.generation, by: owner),
                        .failed(
                            generation: replaced.generation,
                            outcome: .rejected,
                            by: owner,
                            reason: "invalid_grant (revoked)"
                        ),
                    ]
                    try await waitUntil(timeout: .seconds(15), "four events") { received.withLock { $0.count } >= 4 }
                    let events = received.withLock { $0 }.map { event -> RefresherEvent in
                        // The duration varies, and a lock holder signs with its acquisition (`owner-N`); compare the
                        // rest.
                        func process(_ by: String) -> String { worker.connections.owns(by) ? owner : by }
                        switch event {
                        case .refreshed(let generation, let by, _):
                            return .refreshed(generation: generation, by: process(by), durationMilliseconds: nil)
                        case .failed(let generation, let outcome, let by, let reason):
                            return .failed(generation: generation, outcome: outcome, by: process(by), reason: reason)
                        default:
                            return event
                        }
                    }
                    #expect(events == expected)
                    // The stream ends on shutdown.
                    await listener.shutdown()
                    #expect(await reading.value == "ended")
                    // A stream asked for after shutdown ends at once.
                    for await _ in listener.events() { Issue.record("no events after shutdown") }
                }
            }
        }

        @Test("A lost subscription shows up in the stream as a gap, and events flow again after it")
        func gapAfterReconnect() async throws {
            try await withRedisServer { server in
                let scenario = try Scenario(url: server.url)
                try await withRefresher(scenario.refresher()) { worker in
                    try await withRefresher(scenario.refresher()) { listener in
                        let received = Mutex<[RefresherEvent]>([])
                        let reading = Task {
                            for await event in listener.events() { received.withLock { $0.append(event) } }
                        }
                        try await waitUntil(timeout: .seconds(15), "subscribed") { listener.isListeningForEvents }
                        try await scenario.redis.send("CLIENT", "KILL", "TYPE", "pubsub")
                        try await waitUntil(timeout: .seconds(10), "a gap") { received.withLock { $0.contains(.gap) } }
                        try await waitUntil(timeout: .seconds(10), "subscribed again") {
                            listener.isListeningForEvents
                        }
                        let seeded = try await scenario.seed(using: worker)
                        try await waitUntil(timeout: .seconds(15), "the seed's event") {
                            let seed = RefresherEvent.replaced(
                                generation: seeded.generation,
                                by: worker.connections.ownerID
                            )
                            return received.withLock { $0.contains(seed) }
                        }
                        // The stream ends on the listener's shutdown.
                        await listener.shutdown()
                        await reading.value
                    }
                }
            }
        }
    }
}
