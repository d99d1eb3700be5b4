import Testing

@testable import RedisRefresher

/// The holder's, the waiter's and the cache's decisions, without a server and with made-up instants.
@Suite("State machines")
struct StateMachineTests {
    static let t0 = ContinuousClock.now
    static func at(_ milliseconds: Int) -> ContinuousClock.Instant { t0.advanced(by: .milliseconds(milliseconds)) }
    static let tokens = RefreshedTokens(accessToken: "a", refreshToken: "r", expiresAtMilliseconds: nil)

    static func policy(grace: Duration = .zero, attempts: Int = 4) -> RefreshAttempts.Policy {
        .init(
            reuseGrace: grace,
            maximumAttempts: attempts,
            initialBackoff: .milliseconds(100),
            maximumBackoff: .seconds(2),
            budget: .seconds(15)
        )
    }

    @Test("Success commits whatever the expiry; a rejection is recorded at once")
    func successAndRejection() {
        var machine = RefreshAttempts(policy: Self.policy(), now: Self.t0)
        machine.presenting(at: Self.t0)
        #expect(machine.next(after: .succeeded(Self.tokens), at: Self.at(10), jitter: 0) == .commit(Self.tokens))
        var rejected = RefreshAttempts(policy: Self.policy(), now: Self.t0)
        rejected.presenting(at: Self.t0)
        #expect(
            rejected.next(after: .failed(.rejected("invalid_grant")), at: Self.at(10), jitter: 0)
                == .record(.rejected("invalid_grant"))
        )
    }

    @Test("Tries Redis could not record (nothing presented) use no attempt, back off, and end with the budget")
    func unrecordedTries() {
        var machine = RefreshAttempts(policy: Self.policy(attempts: 1), now: Self.t0)
        let failure = RefreshFailure.notProcessed("could not record the attempt: Redis unavailable")
        var delays: [Duration] = []
        var now = 0
        for _ in 0..<6 {
            machine.unrecorded(at: Self.at(now))
            guard case .retry(let delay) = machine.next(after: .failed(failure), at: Self.at(now), jitter: 1) else {
                Issue.record("a try that presented nothing ended the refresh within the budget")
                return
            }
            delays.append(delay)
            now += Int(delay.components.seconds) * 1000 + Int(delay.components.attoseconds / 1_000_000_000_000_000)
        }
        #expect(machine.attempts == 0)
        #expect(delays.prefix(5).map { Int(($0 / .milliseconds(1)).rounded()) } == [100, 200, 400, 800, 1600])
        machine.unrecorded(at: Self.at(15_000))
        #expect(machine.next(after: .failed(failure), at: Self.at(15_000), jitter: 1) == .record(failure))
    }

    @Test("Not processed: backoff doubling with jitter, then recorded as not processed after the last attempt")
    func notProcessedBackoff() {
        var machine = RefreshAttempts(policy: Self.policy(attempts: 3), now: Self.t0)
        machine.presenting(at: Self.t0)
        #expect(
            machine.next(after: .failed(.notProcessed("503")), at: Self.at(5), jitter: 1)
                == .retry(after: .milliseconds(100))
        )
        machine.presenting(at: Self.at(110))
        #expect(
            machine.next(after: .failed(.notProcessed("503")), at: Self.at(115), jitter: 0)
                == .retry(after: .milliseconds(100))
        )
        machine.presenting(at: Self.at(300))
        #expect(
            machine.next(after: .failed(.notProcessed("503")), at: Self.at(305), jitter: 0)
                == .record(.notProcessed("503"))
        )
    }

    @Test("Not processed: no attempt starts past the budget")
    func budget() {
        var machine = RefreshAttempts(policy: Self.policy(), now: Self.t0)
        machine.presenting(at: Self.t0)
        #expect(
            machine.next(after: .failed(.notProcessed("503")), at: Self.at(14_950), jitter: 1)
                == .record(.notProcessed("503"))
        )
    }

    @Test("Unknown without a reuse grace: recorded at once, never presented again")
    func unknownWithoutGrace() {
        var machine = RefreshAttempts(policy: Self.policy(), now: Self.t0)
        machine.presenting(at: Self.t0)
        #expect(
            machine.next(after: .failed(.outcomeUnknown("reset")), at: Self.at(10), jitter: 0)
                == .record(.outcomeUnknown("reset"))
        )
    }

    @Test("Unknown inside the grace: one prompt retry; outside it (with the margin), recorded")
    func unknownInsideGrace() {
        var machine = RefreshAttempts(policy: Self.policy(grace: .seconds(10)), now: Self.t0)
        machine.presenting(at: Self.t0)
        #expect(
            machine.next(after: .failed(.outcomeUnknown("reset")), at: Self.at(200), jitter: 0) == .retry(after: .zero)
        )
        machine.presenting(at: Self.at(200))
        // 9.2 s after the first presentation, the 1 s margin leaves no room.
        #expect(
            machine.next(after: .failed(.outcomeUnknown("reset")), at: Self.at(9_200), jitter: 0)
                == .record(.outcomeUnknown("reset"))
        )
    }

    @Test("After an unknown outcome, a not-processed retry must fit in the grace and a final failure is unknown")
    func notProcessedAfterUnknown() {
        var machine = RefreshAttempts(policy: Self.policy(grace: .seconds(2)), now: Self.t0)
        machine.presenting(at: Self.t0)
        #expect(
            machine.next(after: .failed(.outcomeUnknown("reset")), at: Self.at(100), jitter: 0) == .retry(after: .zero)
        )
        machine.presenting(at: Self.at(100))
        #expect(
            machine.next(after: .failed(.notProcessed("refused")), at: Self.at(150), jitter: 0)
                == .retry(after: .milliseconds(100))
        )
        machine.presenting(at: Self.at(300))
        #expect(
            machine.next(after: .failed(.notProcessed("refused")), at: Self.at(1_400), jitter: 0)
                == .record(.outcomeUnknown("refused"))
        )
    }

    @Test("A takeover inside an earlier presentation's grace inherits its deadline")
    func takeoverInGrace() {
        let machine = RefreshAttempts(policy: Self.policy(grace: .seconds(10)), graceElapsed: .seconds(8), now: Self.t0)
        #expect(machine.mayHaveRotated)
        #expect(machine.insideGrace(Self.t0))
        #expect(!machine.insideGrace(Self.at(1_600)))
    }

    static let credentials = Credentials(accessToken: "a", refreshToken: "r", expiresAtMilliseconds: nil, generation: 3)

    @Test("The waiter: moved finishes, held waits (shorter before the subscription is confirmed), acquired holds")
    func waiterSteps() {
        var waiter = FlightWaiter(generation: 3, pollInterval: .seconds(1), pubSub: true)
        #expect(waiter.isFirstCheck && !waiter.takeover)
        #expect(
            waiter.after(.held(holder: "h-1", remaining: .seconds(5), serverTime: 100), subscribed: true)
                == .wait(.seconds(1))
        )
        #expect(waiter.waitingSince == 100 && waiter.takeover && !waiter.isFirstCheck)
        #expect(
            waiter.after(.held(holder: "h-1", remaining: .milliseconds(300), serverTime: 900), subscribed: true)
                == .wait(.milliseconds(300))
        )
        #expect(
            waiter.after(.held(holder: "h-1", remaining: .seconds(5), serverTime: 1000), subscribed: false)
                == .wait(.milliseconds(25))
        )
        #expect(waiter.waitingSince == 100)
        #expect(
            waiter.after(.acquired(Self.credentials, atMilliseconds: 1, graceElapsed: nil), subscribed: true)
                == .hold(Self.credentials, graceElapsed: nil)
        )
        #expect(waiter.tookOver)
        var other = FlightWaiter(generation: 3, pollInterval: .seconds(1), pubSub: true)
        #expect(other.after(.moved(Self.credentials), subscribed: true) == .finish(.success(Self.credentials)))
    }

    @Test("The waiter maps each recorded outcome to its error, and an outcome event for its generation finishes it")
    func waiterOutcomes() {
        var waiter = FlightWaiter(generation: 3, pollInterval: .seconds(1), pubSub: true)
        guard case .finish(.failure(let unknown)) = waiter.after(.unknown(reason: "x"), subscribed: true) else {
            Issue.record("not finished")
            return
        }
        #expect(unknown.code == .outcomeUnknown)
        guard case .finish(.failure(let failed)) = waiter.after(.failed(.notProcessed, reason: "y"), subscribed: true)
        else {
            Issue.record("not finished")
            return
        }
        #expect(failed.code == .refreshFailed && failed.isRetryable)
        #expect(waiter.woke(.failed(generation: 2, outcome: .rejected, by: "h", reason: "old")) == nil)
        guard
            case .finish(.failure(let rejected)) = waiter.woke(
                .failed(generation: 3, outcome: .rejected, by: "h", reason: "r")
            )
        else {
            Issue.record("not finished")
            return
        }
        #expect(rejected.code == .reloginRequired)
        _ = waiter.after(.held(holder: "h-1", remaining: nil, serverTime: 1), subscribed: true)
        #expect(waiter.woke(.released(by: "h-1", reason: "shutdown")) == nil)
        #expect(!waiter.takeover)
    }

    static func session(_ generation: Int64, lineage: String? = "L1", access: String = "a") -> Credentials {
        Credentials(
            accessToken: access,
            refreshToken: "r",
            expiresAtMilliseconds: nil,
            generation: generation,
            lineage: lineage
        )
    }

    @Test("The cache: events make it stale; a read makes it current; an older read never replaces a newer copy")
    func cacheFollowsRedis() {
        var cache = CredentialsCache()
        #expect(cache.fresh == nil)
        cache.beginLoad()
        #expect(cache.finishLoad(Self.session(5)) == Self.session(5))
        #expect(cache.fresh == Self.session(5))
        cache.heard(.refreshed(generation: 6, by: "x", durationMilliseconds: nil))
        #expect(cache.fresh == nil)
        cache.beginLoad()
        #expect(cache.finishLoad(Self.session(6)).generation == 6)
        #expect(cache.fresh?.generation == 6)
        // Redis went back to generation 2 of the same lineage: its refresh token was used; the copy stays.
        cache.markStale()
        cache.beginLoad()
        #expect(cache.finishLoad(Self.session(2)).generation == 6)
        // A new lineage replaces the copy whatever its generation.
        cache.heard(.replaced(generation: 1, by: "operator"))
        #expect(cache.fresh == nil)
        cache.stored(Self.session(1, lineage: "L2"))
        #expect(cache.fresh?.lineage == "L2")
        #expect(cache.fresh(supersedingGeneration: 9, lineage: "L1") != nil)
        #expect(cache.fresh(supersedingGeneration: 1, lineage: "L2") == nil)
    }

    @Test("The cache: a result stored during a read wins over the older read; an event during a read keeps it stale")
    func cacheRaces() {
        var cache = CredentialsCache()
        cache.beginLoad()
        cache.stored(Self.session(7))
        #expect(cache.finishLoad(Self.session(6)) == Self.session(7))
        #expect(cache.fresh == Self.session(7))
        cache.beginLoad()
        cache.heard(.refreshed(generation: 8, by: "x", durationMilliseconds: nil))
        _ = cache.finishLoad(Self.session(7))
        #expect(cache.fresh == nil)
        cache.heard(.gap)
        cache.stored(Self.session(8))
        #expect(cache.fresh == Self.session(8))
    }
}
