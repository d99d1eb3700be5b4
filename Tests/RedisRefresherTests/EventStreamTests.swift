import RedisRefresher
import RedisTestSupport
import Synchronization
import Testing

extension HTTPIntegration {
    @Suite("Event stream")
    struct EventStreamTests {
        @Test("events() delivers the fleet's refreshed, replaced and failed events, and ends on shutdown")
        func fleetEvents() async throws {
            let scenario = try await HTTPScenario.start()
            let listener = try await scenario.refresher()
            let worker = try await scenario.refresher()
            try await waitUntil(timeout: .seconds(15), "subscribed") { listener.isListeningForEvents }
            let received = Mutex<[RefresherEvent]>([])
            let stream = listener.events()
            let reading = Task {
                for await event in stream { received.withLock { $0.append(event) } }
                return "ended"
            }
            let seeded = try await scenario.seed(worker)
            let fresh = try await worker.refreshAccessTokenOrReLogin(after: seeded, timeout: .seconds(10))
            let replaced = try await worker.replaceSession(scenario.auth.login())
            scenario.auth.update { $0.tokenFailure = (400, "invalid_grant") }
            _ = try? await worker.refreshAccessTokenOrReLogin(after: replaced, timeout: .seconds(10))
            let owner = worker.connections.ownerID
            let expected: [RefresherEvent] = [
                .replaced(generation: seeded.generation, by: owner),
                .refreshed(generation: fresh.generation, by: owner, durationMilliseconds: nil),
                .replaced(generation: replaced.generation, by: owner),
                .failed(generation: replaced.generation, outcome: .rejected, by: owner, reason: "invalid_grant"),
            ]
            try await waitUntil(timeout: .seconds(15), "four events") { received.withLock { $0.count } >= 4 }
            let events = received.withLock { $0 }.map { event -> RefresherEvent in
                // The duration varies, and a lock holder signs with its acquisition (`owner-N`); compare the rest.
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
            await listener.shutdown()
            #expect(await reading.value == "ended")
            // A stream asked for after shutdown ends at once.
            for await _ in listener.events() { Issue.record("no events after shutdown") }
            await worker.shutdown()
            await scenario.stop()
        }

        @Test("A lost subscription shows up in the stream as a gap, and events flow again after it")
        func gapAfterReconnect() async throws {
            let server = try await RedisServerProcess()
            let scenario = try await HTTPScenario.start()
            var configuration = scenario.configuration()
            configuration.redisURL = server.url
            let listener = try await scenario.refresher(configuration)
            let worker = try await scenario.refresher(configuration)
            try await waitUntil(timeout: .seconds(15), "subscribed") { listener.isListeningForEvents }
            let received = Mutex<[RefresherEvent]>([])
            let reading = Task { for await event in listener.events() { received.withLock { $0.append(event) } } }
            let admin = try RedisConnection(url: server.url)
            try await admin.send("CLIENT", "KILL", "TYPE", "pubsub")
            try await waitUntil(timeout: .seconds(10), "a gap") { received.withLock { $0.contains(.gap) } }
            try await waitUntil(timeout: .seconds(10), "subscribed again") { listener.isListeningForEvents }
            let seeded = try await worker.seedSession(scenario.auth.login()).0
            try await waitUntil(timeout: .seconds(15), "the seed's event") {
                let seed = RefresherEvent.replaced(generation: seeded.generation, by: worker.connections.ownerID)
                return received.withLock { $0.contains(seed) }
            }
            await listener.shutdown()
            await reading.value
            await worker.shutdown()
            admin.close()
            await scenario.stop()
        }
    }
}
