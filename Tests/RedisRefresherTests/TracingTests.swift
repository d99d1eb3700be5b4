import InMemoryTracing
import RedisRefresher
import RedisTestSupport
import Synchronization
import Testing
import Tracing

@Suite("Tracing")
struct TracingTests {
    private typealias Attribute = RefresherSpanNames.Attribute

    @Test("One refresh span on the holder, one wait span per waiting refresher, children of the callers' spans")
    func refreshAndWaitSpans() async throws {
        let scenario = try Scenario(name: "trace")
        let tracer = InMemoryTracer()
        // The holder's refresh function waits until both other refreshers found its lock, so they wait for it.
        try await withRefresher(scenario.refresher(refresh: Self.afterWaits(2, in: scenario))) { holder in
            try await withRefreshers(count: 2, { _ in try await scenario.refresher() }) { others in
                let initial = try await scenario.seed(using: holder)
                let generations = try await withTracer(tracer) {
                    try await withThrowingTaskGroup(of: Int64.self) { group in
                        group.addTask {
                            try await withSpan("caller.holder") { _ in
                                try await holder.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(20))
                                    .generation
                            }
                        }
                        try await waitUntil(timeout: .seconds(10), "the holder takes the lock") {
                            try await scenario.lockValue() != nil
                        }
                        // Several tasks per waiting refresher: they share its one flight, so its one wait span.
                        for (index, other) in others.enumerated() {
                            for _ in 0..<5 {
                                group.addTask {
                                    try await withSpan("caller.waiter-\(index)") { _ in
                                        try await other.refreshAccessTokenOrReLogin(
                                            after: initial,
                                            timeout: .seconds(20)
                                        )
                                        .generation
                                    }
                                }
                            }
                        }
                        return try await group.reduce(into: []) { $0.append($1) }
                    }
                }
                #expect(generations.count == 11)
                #expect(Set(generations) == [initial.generation + 1])
                #expect(try await scenario.idp.refreshCount() == 1)

                let spans = tracer.finishedSpans
                let refreshes = spans.filter { $0.operationName == RefresherSpanNames.refresh }
                let waits = spans.filter { $0.operationName == RefresherSpanNames.wait }
                try #require(refreshes.count == 1)
                #expect(waits.count == 2)
                let refresh = refreshes[0]
                #expect(refresh.string(Attribute.outcome) == "refreshed")
                #expect(refresh.string(Attribute.session) == scenario.session)
                #expect(refresh.int(Attribute.generationBefore) == initial.generation)
                #expect(refresh.int(Attribute.generationAfter) == initial.generation + 1)
                #expect(refresh.int(Attribute.attempts) == 1)
                #expect(refresh.attributes.get(Attribute.tookOver) == .bool(false))
                #expect(refresh.errors.isEmpty)
                #expect(refresh.status == nil)
                let holderCaller = try #require(spans.first { $0.operationName == "caller.holder" })
                #expect(refresh.parentSpanID == holderCaller.spanID)
                #expect(refresh.traceID == holderCaller.traceID)
                // The identity provider's call is a child of the refresh span.
                let idpCall = try #require(spans.first { $0.operationName == "idp.token" })
                #expect(idpCall.parentSpanID == refresh.spanID)

                let lockOwner = try #require(refresh.string(Attribute.lockOwner))
                for wait in waits {
                    #expect(wait.string(Attribute.outcome) == "refreshed")
                    #expect(wait.string(Attribute.session) == scenario.session)
                    #expect(wait.int(Attribute.generationBefore) == initial.generation)
                    #expect(wait.int(Attribute.generationAfter) == initial.generation + 1)
                    #expect(wait.string(Attribute.lockOwner) == lockOwner)
                    #expect((wait.int(Attribute.checks) ?? 0) >= 1)
                    #expect(wait.string(Attribute.wokenBy) != nil)
                    #expect(wait.errors.isEmpty)
                    let caller = try #require(spans.first { $0.spanID == wait.parentSpanID })
                    #expect(caller.operationName.hasPrefix("caller.waiter-"))
                }
                // One wait span per refresher: each parented by a different refresher's caller.
                let waitCallers = Set(
                    waits.compactMap { wait in spans.first { $0.spanID == wait.parentSpanID }?.operationName }
                )
                #expect(waitCallers == ["caller.waiter-0", "caller.waiter-1"])
            }
        }
    }

    @Test("A rejected refresh records its outcome and error on the refresh span and on the wait span")
    func rejectedRefresh() async throws {
        let scenario = try Scenario(name: "trace-rejected")
        let tracer = InMemoryTracer()
        try await withRefresher(scenario.refresher(refresh: Self.afterWaits(1, in: scenario))) { holder in
            try await withRefresher(scenario.refresher()) { other in
                let initial = try await scenario.seed(using: holder)
                try await scenario.idp.revoke()
                let errors = await withTracer(tracer) {
                    await withTaskGroup(of: RefresherError.Code?.self) { group in
                        group.addTask {
                            await Self.errorCode { try await holder.refreshAccessTokenOrReLogin(after: initial) }
                        }
                        try? await waitUntil(timeout: .seconds(10), "the holder takes the lock") {
                            try await scenario.lockValue() != nil
                        }
                        group.addTask {
                            await Self.errorCode { try await other.refreshAccessTokenOrReLogin(after: initial) }
                        }
                        return await group.reduce(into: []) { $0.append($1) }
                    }
                }
                #expect(errors == [RefresherError.Code.reloginRequired, .reloginRequired])

                let spans = tracer.finishedSpans
                let refresh = try #require(spans.first { $0.operationName == RefresherSpanNames.refresh })
                let wait = try #require(spans.first { $0.operationName == RefresherSpanNames.wait })
                #expect(spans.filter { $0.operationName.hasPrefix("redis_refresher.") }.count == 2)
                for span in [refresh, wait] {
                    #expect(span.string(Attribute.outcome) == "rejected")
                    #expect(span.string(Attribute.errorType) == "reloginRequired")
                    #expect(span.int(Attribute.generationBefore) == initial.generation)
                    #expect(span.attributes.get(Attribute.generationAfter) == nil)
                    #expect(span.status?.code == .error)
                    let recorded = try #require(span.errors.first?.error as? RefresherError)
                    #expect(recorded.code == .reloginRequired)
                }
                #expect(refresh.int(Attribute.attempts) == 1)
            }
        }
    }

    @Test("No span attribute, event or error holds a token or the Redis password")
    func noSecretsInSpans() async throws {
        let password = "trace-secret-\(UInt32.random(in: .min ... .max))"
        try await withRedisServer(["--requirepass", password]) { server in
            let scenario = try Scenario(url: "redis://:\(password)@127.0.0.1:\(server.port)", name: "trace-secret")
            let tracer = InMemoryTracer()
            // The first attempt is not processed (a retry event), the second one refreshes.
            let gated = Self.afterWaits(1, in: scenario)
            let holder = try await scenario.refresher { current in
                if try await scenario.idp.countRefused() == 1 { throw RefreshFailure.notProcessed("HTTP 503") }
                return try await gated(current)
            }
            try await withRefresher(holder) { holder in
                try await withRefresher(scenario.refresher()) { other in
                    let initial = try await scenario.seed(using: holder)
                    let fresh = try await withTracer(tracer) {
                        try await withThrowingTaskGroup(of: Credentials.self) { group in
                            group.addTask {
                                try await holder.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(20))
                            }
                            try await waitUntil(timeout: .seconds(10), "the holder takes the lock") {
                                try await scenario.lockValue() != nil
                            }
                            group.addTask {
                                try await other.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(20))
                            }
                            return try await group.reduce(into: []) { $0.append($1) }
                        }
                    }
                    #expect(fresh.map(\.generation) == [initial.generation + 1, initial.generation + 1])
                    let spans = tracer.finishedSpans.filter { $0.operationName.hasPrefix("redis_refresher.") }
                    #expect(spans.count == 2)
                    let refresh = try #require(spans.first { $0.operationName == RefresherSpanNames.refresh })
                    #expect(refresh.int(Attribute.attempts) == 2)
                    #expect(refresh.events.map(\.name) == [RefresherSpanNames.retryEvent])
                    #expect(refresh.events.first?.attributes.get(Attribute.outcome) == .string("not_processed"))

                    let secrets = [
                        password, initial.accessToken, initial.refreshToken, fresh[0].accessToken,
                        fresh[0].refreshToken,
                    ]
                    for span in spans {
                        let texts =
                            Renderings.of(span) + Renderings.of(span.attributes) + Renderings.of(span.events)
                            + span.errors.map { String(reflecting: $0.error) }
                        // Counted, not shown: a failure must not print the secrets either.
                        let leaks = texts.filter { text in secrets.contains { text.contains($0) } }.count
                        #expect(leaks == 0, "\(span.operationName) shows a token or the password")
                    }
                }
            }
        }
    }

    @Test("credentials() served from memory and a refresh the cache already answers create no span")
    func noSpanWithoutRefreshOrWait() async throws {
        let scenario = try Scenario(name: "trace-cached")
        try await withRefresher(scenario.refresher(latency: .zero)) { refresher in
            let initial = try await scenario.seed(using: refresher)
            let fresh = try await refresher.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(10))
            let tracer = InMemoryTracer()
            try await withTracer(tracer) {
                for _ in 0..<1000 { #expect(try await refresher.credentials().generation == fresh.generation) }
                // The cache already holds a newer generation than the caller's: answered without a flight.
                let again = try await refresher.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(10))
                #expect(again.generation == fresh.generation)
            }
            #expect(tracer.finishedSpans.isEmpty)
            #expect(tracer.activeSpans.isEmpty)
        }
    }

    @Test("A wait whose every caller timed out ends with outcome timeout, in the tracer passed at construction")
    func waitTimesOut() async throws {
        let scenario = try Scenario(name: "trace-timeout")
        let tracer = InMemoryTracer()
        let release = Latch()
        let holder = try await scenario.refresher { current in
            try await waitUntil(timeout: .seconds(20), "the test lets the refresh finish") { release.isOpen }
            return try await scenario.refreshFunction(latency: .zero)(current)
        }
        try await withRefresher(holder) { holder in
            let waiter = try await scenario.refresher(tracer: tracer) { _ in
                throw RefreshFailure.notProcessed("this refresher never holds the lock")
            }
            try await withRefresher(waiter) { waiter in
                // On failure too: the holder's refresh must not keep its shutdown waiting.
                defer { release.open() }
                let initial = try await scenario.seed(using: holder)
                let holding = Task {
                    try await holder.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(30))
                }
                try await waitUntil(timeout: .seconds(10), "the holder takes the lock") {
                    try await scenario.lockValue() != nil
                }
                await #expect(throws: RefresherError.self) {
                    try await waiter.refreshAccessTokenOrReLogin(after: initial, timeout: .milliseconds(300))
                }
                try await waitUntil(timeout: .seconds(10), "the abandoned wait ends its span") {
                    tracer.finishedSpans.contains { $0.operationName == RefresherSpanNames.wait }
                }
                let wait = try #require(tracer.finishedSpans.first { $0.operationName == RefresherSpanNames.wait })
                #expect(wait.string(Attribute.outcome) == "timeout")
                #expect(wait.string(Attribute.errorType) == "timeout")
                #expect(wait.status?.code == .error)
                release.open()
                #expect(try await holding.value.generation == initial.generation + 1)
                // The holder's refresh went to the global tracer (a no-op here), not to the waiter's.
                #expect(!tracer.finishedSpans.contains { $0.operationName == RefresherSpanNames.refresh })
            }
        }
    }

    /// A refresh function that waits until `count` flights of other refreshers found the lock held (the session's
    /// `waits` statistic), then calls the scenario's identity provider inside an `idp.token` span.
    private static func afterWaits(_ count: Int64, in scenario: Scenario) -> RedisRefresher.RefreshFunction {
        let refresh = scenario.refreshFunction(latency: .zero)
        return { current in
            try await waitUntil(timeout: .seconds(10), "\(count) other refreshers wait") {
                try await scenario.stat("waits") >= count
            }
            return try await withSpan("idp.token") { _ in try await refresh(current) }
        }
    }

    /// The code of the refresher error `body` throws (`nil` when it returns).
    private static func errorCode(_ body: () async throws -> Credentials) async -> RefresherError.Code? {
        do {
            _ = try await body()
            return nil
        } catch {
            return (error as? RefresherError)?.code
        }
    }
}

/// A flag a test opens once.
private final class Latch: Sendable {
    private let value = Atomic<Bool>(false)
    var isOpen: Bool { value.load(ordering: .acquiring) }
    func open() { value.store(true, ordering: .releasing) }
}

extension FinishedInMemorySpan {
    fileprivate func string(_ key: String) -> String? {
        if case .string(let value)? = attributes.get(key) { return value }
        return nil
    }

    fileprivate func int(_ key: String) -> Int64? {
        switch attributes.get(key) {
        case .int64(let value)?: value
        case .int32(let value)?: Int64(value)
        default: nil
        }
    }
}
