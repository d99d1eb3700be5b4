import ArgumentParser
import Foundation
import Logging
import RedisRefresher
import RedisRefresherHTTP

/// One worker process of a fleet, as the demo and the benchmarks run it.
///
/// Storm mode (default): each of TASKS tasks reads the session, waits until START_AT, calls `GET /resource`, on a
/// 401 gets fresh credentials through the library (refreshing via `POST /oauth/token` when it is the one to), calls
/// `/resource` again, and prints one JSON line: `{"t_401":…,"t_ok":…,"ok":…,"err":…}`. The process exits within
/// TASK_TIMEOUT seconds after START_AT.
///
/// Continuous mode (`--duration`): the tasks call `/resource` through the library's `AuthorizedHTTPClient` until the
/// duration is over (with `--refresh-ahead-ms`, refreshing before the token expires), then the process prints one
/// summary JSON line.
///
/// Several sessions (`SESSION=a,b,c`, continuous mode only): one refresher per session over one shared set of
/// connections (``RefresherConnections``), TASKS tasks per session, each session's identity provider at IDP_URL with
/// `{session}` replaced by its name; the summary adds each session's counts.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run one worker process: tasks that call the identity provider's /resource and refresh on 401.",
        discussion: """
            With --metrics-port (or METRICS_PORT) the worker serves its refresher's metrics \
            (redis_refresher_refreshes, _waits, _waiter_resolutions, _failures, ...) at http://HOST:PORT/metrics in \
            Prometheus's text format and prints `metrics at URL` on stderr; without it, it listens on no port.

            Behind Redis Sentinel (a redis-sentinel:// URL) the worker by default presents a refresh token only once \
            1 replica holds its lock, and keeps new tokens until 1 replica holds them (Redis WAIT, at most 1 s \
            each). On a Redis Cluster (a redis-cluster:// URL) it waits likewise for 1 replica of the session's \
            shard, and not at all for a shard without replicas. --replica-acks N and --replica-ack-timeout-ms MS \
            change that; --replica-acks 0 turns it off. `refresher status` shows the setting and the connected \
            replicas.

            With several sessions (SESSION=a,b,c, in continuous mode), one process serves each of them over one set \
            of connections, --tasks tasks per session; IDP_URL may name each session's identity provider with \
            {session} (`refresher idp --sessions N` serves them under /sessions/NAME).
            """
    )

    /// The environment variables of `--coordination` and `--wake`, which `bench` sets for its workers.
    static let coordinationVariable = "COORDINATION"
    static let wakeVariable = "WAKE"

    @OptionGroup var redis: RedisOptions<LocalRedis>
    @Option(help: "Identity provider base URL ($IDP_URL).") var idpURL: String?
    @Option(
        help:
            "Session name ($SESSION); several, comma-separated, serve each (continuous mode; IDP_URL may hold {session})."
    )
    var session: String?
    @Option(help: "Concurrent tasks, per session ($TASKS, default 16).") var tasks: Int?
    @Option(help: "Unix time (seconds, fractional) at which the tasks start ($START_AT, default now).") var startAt:
        Double?
    @Option(help: "Seconds after START_AT by which every task is done ($TASK_TIMEOUT, default 30).") var taskTimeout:
        Double?
    @Option(help: "Run continuously for this many seconds, then print a summary ($DURATION).") var duration: Double?
    @Option(help: "redis (the library) or none (every task refreshes on its own) ($COORDINATION, default redis).")
    var coordination: Coordination?
    @Option(help: "Pause between requests of one task in continuous mode, ms ($REQUEST_INTERVAL_MS, default 100).")
    var requestIntervalMs: Int?
    @Option(help: "How waiters wake: pubsub, or poll (only the 1 s polling) ($WAKE, default pubsub).")
    var wake: WakeMode?
    @Option(help: "Refresh this many ms before the access token expires, not only on a 401 ($REFRESH_AHEAD_MS).")
    var refreshAheadMs: Int?
    @Option(
        help:
            "The identity provider's refresh-token reuse grace, ms: a token whose answer was lost is presented again only within it ($IDP_REUSE_GRACE_MS, default 0)."
    )
    var idpReuseGraceMs: Int?
    @Option(
        help:
            "Storm mode: stay alive until this many seconds after START_AT, so exiting processes do not compete with the storm for CPU ($LINGER, default 0)."
    )
    var linger: Double?
    @Option(help: ReplicaAcknowledgementOptions.replicasHelp) var replicaAcks: Int?
    @Option(help: ReplicaAcknowledgementOptions.timeoutHelp) var replicaAckTimeoutMs: Int?
    @OptionGroup var metrics: MetricsOptions

    /// `--replica-acks` and `--replica-ack-timeout-ms`.
    var replicaAcknowledgement: ReplicaAcknowledgementOptions {
        ReplicaAcknowledgementOptions(replicaAcks: replicaAcks, replicaAckTimeoutMs: replicaAckTimeoutMs)
    }

    func run() async throws {
        guard let idpURL = Environment.string(idpURL, "IDP_URL") else {
            throw CLIError("no identity provider: --idp-url or IDP_URL")
        }
        let sessionNames = try Self.sessionNames(Environment.string(session, "SESSION"))
        let redisURL = try redis.url()
        let taskCount = try Environment.int(tasks, "TASKS", default: 16)
        guard (1...100_000).contains(taskCount) else { throw CLIError("TASKS must be between 1 and 100000") }
        let start = try Environment.double(startAt, "START_AT") ?? unixSeconds()
        let timeout = try Environment.double(taskTimeout, "TASK_TIMEOUT") ?? 30
        guard timeout > 0 else { throw CLIError("TASK_TIMEOUT must be positive") }
        let runFor = try Environment.double(duration, "DURATION")
        guard sessionNames.count == 1 || runFor != nil else {
            throw CLIError("several sessions need continuous mode: --duration or DURATION")
        }
        let mode = try Environment.value(coordination, Self.coordinationVariable, default: .redis)
        let wakeMode = try Environment.value(wake, Self.wakeVariable, default: .pubsub)
        let metricsAddress = try metrics.address()
        let interval = try Environment.int(requestIntervalMs, "REQUEST_INTERVAL_MS", default: 100)

        var logger = Logger(label: "refresher-worker")
        logger.logLevel = .warning
        var configuration = RefresherConfiguration(redisURL: redisURL, session: sessionNames[0])
        configuration.wakeUp = wakeMode.wakeUp
        if let ahead = try Environment.double(refreshAheadMs.map(Double.init), "REFRESH_AHEAD_MS") {
            guard ahead > 0, ahead <= 86_400_000 else { throw CLIError("REFRESH_AHEAD_MS must be in (0, 86400000]") }
            configuration.refreshAhead = .milliseconds(Int64(ahead))
        }
        let grace = try Environment.int(idpReuseGraceMs, "IDP_REUSE_GRACE_MS", default: 0)
        guard (0...3_600_000).contains(grace) else { throw CLIError("IDP_REUSE_GRACE_MS must be in [0, 3600000]") }
        configuration.identityProviderReuseGrace = .milliseconds(grace)
        // How many replicas must acknowledge the lock and the new session (`demo --topology sentinel` asks for every
        // replica that can be promoted, through REPLICA_ACKS); automatic when unset.
        let redisConfiguration: RedisConfiguration
        do {
            redisConfiguration = try RedisConfiguration(url: redisURL)
        } catch {
            throw CLIError("bad Redis URL: \(error.message)")
        }
        configuration.replicaAcknowledgement = try replicaAcknowledgement.setting(for: redisConfiguration)
        try configuration.validate()
        // Before the refresher: its metrics come from the factory bootstrapped here.
        var metricsServer: MetricsServer?
        if let metricsAddress {
            let server = try await MetricsServer.start(host: metricsAddress.host, port: metricsAddress.port)
            printError("metrics at \(server.url)")
            metricsServer = server
        }
        let served: WorkerSessions
        do {
            served = try await WorkerSessions.start(
                sessions: sessionNames,
                configuration: configuration,
                identityProviderURL: idpURL,
                httpConnections: taskCount,
                logger: logger
            )
        } catch {
            await metricsServer?.stop()
            throw error
        }
        let shutdown = try ShutdownSignal.install { [metricsServer] in
            await served.shutdown(gracePeriod: .seconds(1))
            await metricsServer?.stop()
        }
        defer { shutdown.cancel() }
        let contexts = served.members.map { member in
            WorkerContext(
                refresher: member.refresher,
                http: member.http,
                initial: member.initial,
                start: start,
                coordinated: mode == .redis
            )
        }
        if let runFor {
            let summary = await WorkerContext.runContinuously(
                contexts,
                tasks: taskCount,
                until: start + runFor,
                interval: .milliseconds(interval)
            )
            emit(summary.json)
        } else {
            // Tells a benchmark driver that this process is connected and waiting for START_AT.
            printError("ready")
            await contexts[0].runStorm(tasks: taskCount, deadline: start + timeout)
            let lingerUntil = start + min(try Environment.double(linger, "LINGER") ?? 0, timeout)
            try? await sleep(untilUnix: lingerUntil)
        }
        await served.shutdown(gracePeriod: nil)
        await metricsServer?.stop()
    }

    /// The session names of `--session` or `SESSION`: one name, or several separated by commas (a session name has
    /// no comma), each at most once.
    static func sessionNames(_ text: String?) throws -> [String] {
        guard let text, !text.isEmpty else { throw CLIError("no session: --session or SESSION") }
        let names = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        for name in names {
            do {
                _ = try SessionName(name)
            } catch {
                throw CLIError("session '\(Operator.printable(String(name.prefix(40))))': \(error.message)")
            }
        }
        guard Set(names).count == names.count else { throw CLIError("a session is named twice in \(text.prefix(80))") }
        return names
    }
}

/// What every task of a worker shares.
struct WorkerContext: Sendable {
    let refresher: RedisRefresher
    let http: DemoHTTP
    let initial: Credentials
    let start: Double
    let coordinated: Bool

    /// Storm mode: one request, a refresh on 401, a second request; one JSON line per task.
    func runStorm(tasks: Int, deadline: Double) async {
        await withTaskGroup(of: String.self) { group in
            for _ in 0..<tasks {
                group.addTask { await self.stormTask(deadline: deadline) }
            }
            // Print lines as tasks finish; tasks still running at the deadline are reported as timed out.
            let watchdog = Task {
                try await sleep(untilUnix: deadline + 0.5)
                emit(#"{"t_401":null,"t_ok":null,"ok":false,"err":"worker deadline"}"#)
                Foundation.exit(2)
            }
            for await line in group { emit(line) }
            watchdog.cancel()
        }
    }

    private func stormTask(deadline: Double) async -> String {
        var result = StormLine()
        do {
            let credentials = try await refresher.credentials()
            try await sleep(untilUnix: start)
            if try await http.resource(accessToken: credentials.accessToken) == 200 {
                result.tOK = unixSeconds()
                result.ok = true
                return result.json
            }
            result.t401 = unixSeconds()
            let remaining = deadline - unixSeconds()
            guard remaining > 0 else {
                result.error = "deadline"
                return result.json
            }
            let accessToken: String
            if coordinated {
                let fresh = try await freshCredentials(after: credentials, deadline: deadline)
                result.tFresh = unixSeconds()
                result.holder = refresher.connections.owns(fresh.refreshedBy ?? "")
                accessToken = fresh.accessToken
            } else {
                // No coordination: this task presents the refresh token it holds, like every other task.
                let tokens = try await http.refresh(using: credentials.refreshToken)
                result.tFresh = unixSeconds()
                result.holder = true
                accessToken = tokens.accessToken
            }
            let status = try await http.resource(accessToken: accessToken)
            if status == 200 {
                result.tOK = unixSeconds()
                result.ok = true
            } else {
                result.error = "HTTP \(status) after refresh"
            }
        } catch let error as RefresherError {
            result.error = "\(error.code): \(error.message)"
        } catch let failure as RefreshFailure {
            result.error =
                failure.isRejected ? "reloginRequired: \(failure.reason)" : "refreshFailed: \(failure.reason)"
        } catch {
            result.error = "\(type(of: error))"
        }
        return result.json
    }

    /// Fresh credentials after `stale`, trying again after a retryable error (Redis unreachable, a refresh the
    /// provider did not process, a lost lock) while the task's deadline allows, as an application would.
    private func freshCredentials(after stale: Credentials, deadline: Double) async throws -> Credentials {
        while true {
            let remaining = deadline - unixSeconds()
            let failure: RefresherError
            do {
                return try await refresher.refreshAccessTokenOrReLogin(
                    after: stale,
                    timeout: .milliseconds(max(Int64(remaining * 1000), 1))
                )
            } catch {
                failure = error
            }
            guard failure.isRetryable, failure.code != .timeout, deadline - unixSeconds() > 0.2 else { throw failure }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Continuous mode: `tasks` tasks per context (session) making requests until `end`, through the library's
    /// authorized HTTP client (refresh after the used credentials and one retry on a 401) or, uncoordinated,
    /// refreshing by hand; returns the summary, with each session's counts when there are several.
    static func runContinuously(
        _ contexts: [WorkerContext],
        tasks: Int,
        until end: Double,
        interval: Duration
    ) async -> WorkerSummary {
        let perSession = await withTaskGroup(of: (Int, WorkerSummary).self) { group in
            for (index, context) in contexts.enumerated() {
                for _ in 0..<tasks {
                    group.addTask {
                        var summary = WorkerSummary()
                        await context.continuousTask(until: end, interval: interval, summary: &summary)
                        return (index, summary)
                    }
                }
            }
            return await group.reduce(into: Array(repeating: WorkerSummary(), count: contexts.count)) {
                $0[$1.0].merge($1.1)
            }
        }
        var summary = perSession.reduce(into: WorkerSummary()) { $0.merge($1) }
        if contexts.count > 1 {
            summary.sessions = Dictionary(
                uniqueKeysWithValues: zip(contexts, perSession).map {
                    ($0.refresher.session.rawValue, WorkerSummary.SessionCounts($1))
                }
            )
        }
        return summary
    }

    private func continuousTask(until end: Double, interval: Duration, summary: inout WorkerSummary) async {
        var credentials = initial
        try? await sleep(untilUnix: start)
        var lastServed = max(start, unixSeconds())
        while unixSeconds() < end {
            let served = summary.ok
            do {
                if coordinated {
                    try await authorizedRequest(until: end, summary: &summary)
                } else {
                    try await uncoordinatedRequest(credentials: &credentials, summary: &summary)
                }
            } catch let failure as RefreshFailure where failure.isRejected {
                summary.loggedOut = true
            } catch let error as RefresherError where error.code == .reloginRequired {
                summary.loggedOut = true
            } catch {
                summary.recordError(WorkerSummary.errorKind(error), at: unixSeconds())
            }
            if summary.ok > served {
                let now = unixSeconds()
                summary.recordGap(from: lastServed, to: now)
                lastServed = now
            }
            try? await Task.sleep(for: interval)
        }
        // A task that served nothing since `lastServed` stalled until the end.
        summary.recordGap(from: lastServed, to: min(unixSeconds(), end))
    }
}

extension WorkerContext {
    /// One `GET /resource` through the library's ``AuthorizedHTTPClient``: on a 401 it refreshes after the
    /// credentials the request used (one refresh per expiry across the fleet) and retries once.
    fileprivate func authorizedRequest(until end: Double, summary: inout WorkerSummary) async throws {
        let remaining = max(end - unixSeconds(), 0.001) + 10
        let authorized = AuthorizedHTTPClient(
            client: http.client,
            refresher: refresher,
            refreshTimeout: .milliseconds(Int64(remaining * 1000))
        )
        let (status, attempts) = try await http.authorizedResource(authorized)
        summary.requests += attempts.count
        summary.unauthorized += attempts.count - 1 + (status == 401 ? 1 : 0)
        if status == 200 { summary.ok += 1 }
        if attempts.count == 2, attempts[1].credentials.generation > attempts[0].credentials.generation,
            let refreshedAt = attempts[1].credentials.refreshedAtMilliseconds
        {
            summary.wakeMilliseconds.append(max(0, Int64(attempts[1].at * 1000) - refreshedAt))
        }
    }

    /// One `GET /resource` without coordination: on a 401 this task presents the refresh token it holds, like
    /// every other task.
    fileprivate func uncoordinatedRequest(credentials: inout Credentials, summary: inout WorkerSummary) async throws {
        let status = try await http.resource(accessToken: credentials.accessToken)
        summary.requests += 1
        if status == 200 {
            summary.ok += 1
        } else if status == 401 {
            summary.unauthorized += 1
            // Once the session is revoked there is nothing left to try.
            guard !summary.loggedOut else { return }
            summary.refreshCalls += 1
            let tokens = try await http.refresh(using: credentials.refreshToken)
            credentials = Credentials(
                accessToken: tokens.accessToken,
                refreshToken: tokens.refreshToken ?? credentials.refreshToken,
                expiresAtMilliseconds: tokens.expiresAtMilliseconds,
                generation: credentials.generation + 1
            )
        }
    }
}

/// One task's line in storm mode: `{"t_401":…,"t_ok":…,"ok":…,"err":…}` with explicit nulls, plus `t_fresh`
/// (when fresh credentials arrived) and `holder` (whether this process performed the refresh), for benchmarks.
struct StormLine: Codable, Sendable {
    var t401: Double?
    var tOK: Double?
    var ok = false
    var error: String?
    var tFresh: Double?
    var holder = false

    enum CodingKeys: String, CodingKey {
        case t401 = "t_401"
        case tOK = "t_ok"
        case ok
        case error = "err"
        case tFresh = "t_fresh"
        case holder
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(t401, forKey: .t401)
        try container.encode(tOK, forKey: .tOK)
        try container.encode(ok, forKey: .ok)
        try container.encode(error, forKey: .error)
        try container.encode(tFresh, forKey: .tFresh)
        try container.encode(holder, forKey: .holder)
    }

    var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }
}
