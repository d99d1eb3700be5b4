// A worker process for the refresher's multi-process tests.
//
// Environment: REDIS_URL, SESSION, IDP_NAMESPACE, TASKS (default 16), START_AT (Unix seconds, fractional; tasks
// wait for it, a start barrier), LATENCY_MS (refresh latency, default 200), LOCK_TTL_MS (default 10000),
// TIMEOUT_MS (per call, default 20000), POLL_MS (default 1000), REFRESH_TIMEOUT_MS (default 30000), MODE:
//   refresh  - each task reads the session, waits for START_AT, then refreshes after it (a 401 storm);
//   static   - like refresh, but the refresh function sleeps LATENCY_MS and returns fixed tokens without the IdP;
//   fail500  - the refresh function sleeps LATENCY_MS, counts a call at the IdP, then fails like an HTTP 500;
//   hang     - the refresh function counts a call at the IdP, then never returns (past REFRESH_TIMEOUT_MS);
//   drop     - the IdP rotates, then the answer is lost (thrown as an unknown outcome) on the first DROP_FIRST calls
//              (default 1) of the process;
//   late     - the IdP rotates, then the answer comes LATENCY_MS later (past REFRESH_TIMEOUT_MS);
//   slow     - the IdP rotates at once, the answer comes LATENCY_MS later (a request in flight);
//   refuse   - the first REFUSE_FIRST presentations (default 2, fleet-wide) are refused before reaching the IdP
//              (not processed), then the IdP is called;
//   expired  - the IdP rotates and answers with an access token that expires at once (expires_in 0).
// START_KEY, when set, is a start barrier kept in Redis: after "ready" the worker pops one element from that list
// (BLPOP, up to 60 s), so the test releases a whole fleet at once after every worker has read the session.
// IDP_REDIS_URL is where the fake identity provider keeps its state (default REDIS_URL; failover tests keep it apart).
// REPLICA_ACKS and REPLICA_ACK_TIMEOUT_MS set the replica acknowledgement (default automatic).
// LOG_LEVEL (trace ... critical) sends the refresher's log to stderr at that level (default: no log).
// IDP_REUSE_GRACE_MS sets the refresher's identityProviderReuseGrace (default 0); SHUTDOWN_GRACE_MS how long the
// final shutdown waits for a request still in flight (default REFRESH_TIMEOUT_MS).
// Prints "ready <owner>" once connected, then one JSON line per task:
//   {"ok":true,"generation":N,"t_resume":<unix µs>,"holder":true|false} or {"ok":false,"err":"<code>"}.
// On SIGTERM it shuts the refresher down (releasing a held lock) and exits 143.
import Foundation
import Logging
import RedisRefresher
import RedisTestSupport
import Synchronization

let environment = ProcessInfo.processInfo.environment
func setting(_ name: String, _ fallback: String) -> String { environment[name] ?? fallback }

let redisURL = setting("REDIS_URL", "redis://127.0.0.1:6379")
let sessionName = setting("SESSION", "test")
let namespace = setting("IDP_NAMESPACE", sessionName)
let tasks = Int(setting("TASKS", "16")) ?? 16
let startAt = Double(setting("START_AT", "0")) ?? 0
let latency = Duration.milliseconds(Int(setting("LATENCY_MS", "200")) ?? 200)
let lockTTL = Duration.milliseconds(Int(setting("LOCK_TTL_MS", "10000")) ?? 10000)
let timeout = Duration.milliseconds(Int(setting("TIMEOUT_MS", "20000")) ?? 20000)
let mode = setting("MODE", "refresh")
let pollInterval = Duration.milliseconds(Int(setting("POLL_MS", "1000")) ?? 1000)
let shutdownGrace = Duration.milliseconds(
    Int(setting("SHUTDOWN_GRACE_MS", "")) ?? Int(setting("REFRESH_TIMEOUT_MS", "")) ?? 30000
)
let reuseGrace = Duration.milliseconds(Int(setting("IDP_REUSE_GRACE_MS", "0")) ?? 0)
let dropFirst = Int(setting("DROP_FIRST", "1")) ?? 1
let refuseFirst = Int64(setting("REFUSE_FIRST", "2")) ?? 2
let drops = Atomic<Int>(0)
let refreshTimeout = Duration.milliseconds(
    Int(setting("REFRESH_TIMEOUT_MS", "")) ?? min(30000, 10 * (Int(setting("LOCK_TTL_MS", "10000")) ?? 10000))
)

/// Writes one line to stdout at once (unbuffered), so the parent sees it even if this process is killed.
/// Set by the SIGTERM handler.
let terminated = Atomic<Bool>(false)

func emit(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func microsecondsNow() -> Int64 {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    return Int64(spec.tv_sec) * 1_000_000 + Int64(spec.tv_nsec) / 1000
}

do {
    let idpConnection = try RedisConnection(url: setting("IDP_REDIS_URL", redisURL))
    let idp = FakeIdentityProvider(connection: idpConnection, namespace: namespace)
    var logger = Logger(label: "worker") { StreamLogHandler.standardError(label: $0) }
    logger.logLevel = environment["LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) } ?? .critical
    let refresher = try await RedisRefresher(
        configuration: .init(
            redisURL: redisURL,
            session: sessionName,
            lockTTL: lockTTL,
            pollInterval: pollInterval,
            refreshTimeout: refreshTimeout,
            shutdownGracePeriod: shutdownGrace,
            identityProviderReuseGrace: reuseGrace,
            replicaAcknowledgement: environment["REPLICA_ACKS"].flatMap { Int($0) }.map {
                ReplicaAcknowledgement(
                    replicas: $0,
                    timeout: .milliseconds(Int(setting("REPLICA_ACK_TIMEOUT_MS", "1000")) ?? 1000)
                )
            }
        ),
        logger: logger,
        refresh: { current in
            func rotate() async throws -> RefreshedTokens {
                switch try await idp.refresh(current.refreshToken) {
                case .refreshed(let access, let refresh):
                    return RefreshedTokens(
                        accessToken: access,
                        refreshToken: refresh,
                        expiresIn: mode == "expired" ? .zero : .seconds(3600)
                    )
                case .rejected(let reason):
                    throw RefreshFailure.rejected("invalid_grant (\(reason))")
                }
            }
            switch mode {
            case "drop":
                let tokens = try await rotate()
                if drops.add(1, ordering: .relaxed).newValue <= dropFirst {
                    throw RefreshFailure.outcomeUnknown("connection reset after the request was sent")
                }
                return tokens
            case "late", "slow":
                let tokens = try await rotate()
                // Ignores cancellation, like a client that does not honour it.
                let until = ContinuousClock.now.advanced(by: latency)
                while ContinuousClock.now < until { try? await Task.sleep(until: until, clock: .continuous) }
                return tokens
            case "refuse":
                if try await idp.countRefused() <= refuseFirst {
                    throw RefreshFailure.notProcessed("connection refused")
                }
                return try await rotate()
            case "expired":
                return try await rotate()
            default:
                break
            }
            try await Task.sleep(for: latency)
            if mode == "fail500" || mode == "hang" {
                _ = try await idpConnection.send("HINCRBY", RedisArgument(idp.key), "attempts", 1)
                if mode == "hang" { try? await Task.sleep(for: .seconds(3600)) }
                throw RefreshFailure.transient("HTTP 500")
            }
            if mode == "static" {
                return RefreshedTokens(
                    accessToken: "static-access",
                    refreshToken: "static-refresh",
                    expiresIn: .seconds(3600)
                )
            }
            switch try await idp.refresh(current.refreshToken) {
            case .refreshed(let access, let refresh):
                return RefreshedTokens(accessToken: access, refreshToken: refresh, expiresIn: .seconds(3600))
            case .rejected(let reason):
                throw RefreshFailure.rejected("invalid_grant (\(reason))")
            }
        }
    )
    let owner = refresher.connections.ownerID

    let signals = DispatchSource.makeSignalSource(signal: SIGTERM, queue: .global())
    signal(SIGTERM, SIG_IGN)
    signals.setEventHandler {
        terminated.store(true, ordering: .relaxed)
        Task {
            await refresher.shutdown(gracePeriod: .milliseconds(500))
            exit(143)
        }
    }
    signals.resume()

    let initial = try await refresher.credentials()
    emit("ready \(owner)")
    if let startKey = environment["START_KEY"] {
        let barrier = try RedisConnection(url: redisURL)
        let until = ContinuousClock.now.advanced(by: .seconds(60))
        while try await barrier.send("BLPOP", RedisArgument(startKey), "1").isNull {
            guard ContinuousClock.now < until else { throw TestSupportError("start barrier \(startKey) never opened") }
        }
        barrier.close()
    }
    let delay = startAt - Date().timeIntervalSince1970
    if delay > 0 { try await Task.sleep(for: Duration.milliseconds(Int(delay * 1000))) }
    await withTaskGroup(of: String.self) { group in
        for _ in 0..<tasks {
            group.addTask {
                let called = microsecondsNow()
                do {
                    let fresh = try await refresher.refreshAccessTokenOrReLogin(after: initial, timeout: timeout)
                    let resumed = microsecondsNow()
                    let holder = refresher.connections.owns(fresh.refreshedBy ?? "")
                    return
                        #"{"ok":true,"generation":\#(fresh.generation),"t_call":\#(called),"t_resume":\#(resumed),"holder":\#(holder)}"#
                } catch {
                    let code = (error as? RefresherError)?.code.description ?? "other"
                    return #"{"ok":false,"err":"\#(code)","t_call":\#(called),"t_resume":\#(microsecondsNow())}"#
                }
            }
        }
        for await line in group { emit(line) }
    }
    await refresher.shutdown()
    idpConnection.close()
    // A SIGTERM whose shutdown finished the tasks first still ends the process as terminated.
    if terminated.load(ordering: .relaxed) { exit(143) }
} catch {
    emit("error \(error)")
    exit(1)
}
