import ArgumentParser
import DemoIdentityProvider
import Foundation
import RedisClient
import RedisRefresher
import RedisTopology

/// The main job: a fleet of worker processes sharing one session against a strict identity provider, showing that
/// every token expiry costs exactly one refresh and nobody is logged out — or, with `--coordination none`, the
/// logout storm it prevents.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a demo fleet against a built-in identity provider and an embedded or given Redis.",
        discussion: """
            With --metrics-port P (or METRICS_PORT) the demo serves Prometheus metrics: its own process at \
            http://HOST:P/metrics (the built-in identity provider's counters: demo_idp_refreshes, \
            demo_idp_refresh_token_reuse, ...), and worker i (from 1) at port P+i with its refresher's counters \
            (redis_refresher_refreshes, ...). Each process prints `metrics at URL` on stderr; with P = 0 each picks \
            a free port.

            With --topology sentinel the demo starts a Redis Sentinel topology on loopback (1 primary, 2 replicas, \
            3 sentinels; down after 1 s) and runs the fleet over its redis-sentinel:// URL, its locks and new \
            sessions acknowledged by both replicas (REPLICA_ACKS=2: every replica that can be promoted, so a failover \
            never loses them). At --failover-at seconds into the run (default: half of --duration; none: no failover) \
            it fails the primary over by --failover-kind: forced (SENTINEL FAILOVER), kill (kill -9 of the primary, \
            restarted once a replica is promoted, as a supervisor would) or pause (SIGSTOP of the primary past \
            down-after-milliseconds, SIGCONT once a replica is promoted). Until the sentinels have made the old \
            primary a replica again, refreshes wait. The progress shows when the failover begins, when the new \
            primary is in place and when the old one is a replica; the summary adds the requests served before, \
            during and after it, the requests' errors by kind in each period, the longest time a task went without a \
            served request, and the expiries and refreshes since the failover (with the defaults, a token expires \
            after it). The run fails if the failover does not complete. The topology is stopped at the end.

            With --topology cluster the demo starts a Redis Cluster on loopback (3 primaries, with --cluster-replicas \
            replicas each) and runs the fleet over its redis-cluster:// URL with --sessions sessions spread over the \
            shards: every worker serves every session (--tasks tasks each) over one set of connections, each session \
            with an identity provider of its own. At --failover-at seconds it fails over the shard of the first \
            session (--failover-kind forced: CLUSTER FAILOVER on a replica; kill: kill -9 of its primary, restarted \
            once a replica took over); at --migrate-at seconds it moves the first session's slot to another primary. \
            The summary reports each session's slot, primary, refreshes, refresh-token reuse and errors; the run \
            passes when no session saw reuse or a logout and every failover and migration completed.
            """
    )

    @OptionGroup var redis: RedisOptions<LocalOrEmbeddedRedis>
    @Option(help: "Worker processes.") var processes = 8
    @Option(help: "Tasks per worker process.") var tasks = 16
    @Option(help: "How long the fleet runs, in seconds.") var duration = 14.0
    @Option(help: "Access-token lifetime at the identity provider, in seconds.") var tokenTTL = 4.0
    @Option(help: "Refresh latency of the identity provider, in milliseconds.") var latencyMs = 200
    @Option(help: "Pause between requests of one task, in milliseconds.") var requestIntervalMs = 100
    @Option(help: "redis (the library) or none (every worker refreshes on its own).")
    var coordination = Coordination.redis
    @Flag(help: "Always start an embedded throwaway redis-server, even if one answers.") var embeddedRedis = false
    @Flag(
        help:
            "Start an embedded throwaway redis-server with TLS on a certificate made with openssl, and run the fleet over rediss://."
    )
    var tls = false
    @Flag(help: "Print the summary as JSON.") var json = false
    @Option(help: "Write the run's timeline (requests served, 401s, refreshes) as SVG to this file.")
    var timeline: String?
    @Flag(
        help:
            "Soak: sample worker memory and threads, Redis clients, keys and memory every minute; compare the first and last samples."
    )
    var soak = false
    @Option(
        help:
            "single (the Redis above), sentinel (an embedded Sentinel topology, failed over during the run) or cluster (an embedded 3-primary Redis Cluster and several sessions; see above)."
    )
    var topology = DemoTopology.single
    @Option(
        help: ArgumentHelp(
            "With --topology sentinel: when to fail the primary over, in seconds since the fleet's start, or none "
                + "(default: half of --duration). With --topology cluster: when to fail over the shard of the first "
                + "session (default: none).",
            valueName: "seconds|none"
        )
    )
    var failoverAt: FailoverTime?
    @Option(
        help:
            "With --topology sentinel: forced (SENTINEL FAILOVER, the default), kill (kill -9 of the primary, then a restart) or pause (SIGSTOP past down-after-milliseconds, then SIGCONT). With --topology cluster: forced (CLUSTER FAILOVER on a replica) or kill."
    )
    var failoverKind: FailoverKind?
    @Option(help: "With --topology cluster: the sessions the fleet serves, spread over the shards (default 8).")
    var sessions: Int?
    @Option(
        help: ArgumentHelp(
            "With --topology cluster: when to move the first session's slot to another primary, in seconds since the "
                + "fleet's start (default: never).",
            valueName: "seconds"
        )
    )
    var migrateAt: Double?
    @Option(
        help:
            "With --topology cluster: replicas per primary (default 1 when the machine has 2 or more cores, else 0)."
    )
    var clusterReplicas: Int?
    @OptionGroup var metrics: MetricsOptions

    /// The replicas and sentinels of `--topology sentinel`.
    static let sentinelOptions = SentinelTopology.Options(replicas: 2, sentinels: 3)
    /// How many replicas must acknowledge a worker's lock and new session (the worker's `REPLICA_ACKS`).
    static let replicaAcknowledgementVariable = "REPLICA_ACKS"

    /// When the failover happens, in seconds since the fleet's start; `nil` for none.
    var failoverSeconds: Double? {
        switch topology {
        case .single: nil
        case .sentinel: (failoverAt ?? .at(seconds: duration / 2)).seconds
        case .cluster: failoverAt?.seconds
        }
    }

    func validate() throws {
        guard (1...256).contains(processes) else { throw ValidationError("--processes must be 1...256") }
        guard (1...10_000).contains(tasks) else { throw ValidationError("--tasks must be 1...10000") }
        guard duration > 0, duration <= 3600 else { throw ValidationError("--duration must be in (0, 3600] seconds") }
        guard tokenTTL >= 1 else { throw ValidationError("--token-ttl must be at least 1 second") }
        guard latencyMs >= 0, requestIntervalMs >= 0 else { throw ValidationError("latencies must not be negative") }
        if tls, redis.redisURL != nil {
            throw ValidationError("--tls starts an embedded server: for a server of your own, give a rediss:// URL")
        }
        try validateTopology()
    }

    private func validateTopology() throws {
        if topology != .cluster, sessions != nil || migrateAt != nil || clusterReplicas != nil {
            throw ValidationError("--sessions, --migrate-at and --cluster-replicas need --topology cluster")
        }
        guard topology != .single else {
            if failoverAt != nil || failoverKind != nil {
                throw ValidationError("--failover-at and --failover-kind need --topology sentinel or cluster")
            }
            return
        }
        let conflicting = [
            redis.redisURL != nil ? "--redis-url" : nil, tls ? "--tls" : nil,
            embeddedRedis ? "--embedded-redis" : nil,
            redis.password.redisPasswordFile != nil ? "--redis-password-file" : nil,
        ].compactMap { $0 }
        if let flag = conflicting.first {
            let nodes =
                topology == .sentinel
                ? "its own primary, replicas and sentinels" : "its own cluster"
            throw ValidationError(
                "--topology \(topology.rawValue) starts \(nodes) (plaintext, no password): \(flag) does not apply"
            )
        }
        if let seconds = failoverAt?.seconds, !(seconds >= 0 && seconds < duration) {
            throw ValidationError("--failover-at must be in [0, --duration) seconds, or none")
        }
        if topology == .cluster { try validateCluster() }
    }

    private func validateCluster() throws {
        if let sessions, !(1...256).contains(sessions) { throw ValidationError("--sessions must be 1...256") }
        if let clusterReplicas, !(0...2).contains(clusterReplicas) {
            throw ValidationError("--cluster-replicas must be 0...2")
        }
        if let migrateAt, !(migrateAt >= 0 && migrateAt < duration) {
            throw ValidationError("--migrate-at must be in [0, --duration) seconds")
        }
        if failoverKind == .pause {
            throw ValidationError("--failover-kind pause needs --topology sentinel: on a cluster, use forced or kill")
        }
        if failoverSeconds != nil, replicasPerPrimary == 0 {
            throw ValidationError("--failover-at needs replicas to promote: --cluster-replicas 1")
        }
        if soak { throw ValidationError("--soak needs --topology single or sentinel") }
    }

    func run() async throws {
        let metricsAddress = try metrics.address()
        if let port = metricsAddress?.port, port + processes > 65535 {
            throw CLIError("--metrics-port: the workers' ports \(port + 1)...\(port + processes) do not exist")
        }
        if topology == .cluster {
            try await runCluster(metricsAddress: metricsAddress)
            return
        }
        var sentinel: SentinelTopology?
        if topology == .sentinel {
            if !json { print("starting a Sentinel topology on loopback (1 primary, 2 replicas, 3 sentinels)") }
            sentinel = try await SentinelTopology.start(Self.sentinelOptions, timeout: .seconds(60))
        }
        let url: String
        let embedded: EmbeddedRedis?
        if let sentinel {
            (url, embedded) = (sentinel.sentinelURL, nil)
        } else {
            (url, embedded) = try await resolveRedis()
        }
        // Before the identity provider: its counters come from the factory bootstrapped here.
        var metricsServer: MetricsServer?
        if let metricsAddress {
            let server = try await MetricsServer.start(host: metricsAddress.host, port: metricsAddress.port)
            // Like the workers' lines, on stderr: the summary on stdout may be JSON.
            printError("metrics at \(server.url)")
            metricsServer = server
        }
        let launch = try await IdentityProviderLaunch.start(tokenTTL: tokenTTL, latencyMs: latencyMs)
        let idp = launch.provider
        let server = launch.server
        let sessionName = "demo-\(UInt32.random(in: .min ... .max))"
        let keys = SessionKeys(session: try SessionName(sessionName))
        let redis = try RedisConnection(url: url)
        let admin = SessionAdmin(connection: redis, keys: keys)
        let fleet = DemoFleet()
        let cleanup = try ShutdownSignal.install { [metricsServer, sentinel] in
            fleet.send(SIGTERM)
            await server.stop()
            await metricsServer?.stop()
            await embedded?.stop()
            await sentinel?.shutdown()
        }
        defer { cleanup.cancel() }

        _ = try await launch.storeLogin(in: admin, by: "demo-login")
        let commandsBefore = try await Self.commandsProcessed(redis)

        printHeader(url: url, embedded: embedded != nil || sentinel != nil, idp: server.url, session: sessionName)
        if let sentinel { printTopology(sentinel) }
        if let metricsServer, !json {
            let workers =
                metricsAddress?.port == 0
                ? "free ports (each prints its URL on stderr)"
                : "ports \(metricsServer.port + 1)...\(metricsServer.port + processes)"
            print("  metrics   \(metricsServer.url) (identity provider); workers on \(workers)")
        }
        let start = unixSeconds() + 1.5
        var environment = [
            RedisURL.variable: url, "IDP_URL": server.url, "SESSION": sessionName, "TASKS": String(tasks),
            "START_AT": String(start), "DURATION": String(duration),
            WorkerCommand.coordinationVariable: coordination.rawValue, "REQUEST_INTERVAL_MS": String(requestIntervalMs),
        ]
        if sentinel != nil {
            // Every replica that can be promoted holds the lock before the refresh token is presented: with fewer,
            // Sentinel may promote one that does not.
            environment[Self.replicaAcknowledgementVariable] = String(Self.sentinelOptions.replicas)
        }
        try await startWorkers(in: fleet, environment: environment, metricsAddress: metricsAddress)
        let workers = fleet.workers
        let failover = startFailover(on: sentinel, fleetStart: start, provider: idp)

        // The progress lines' own reads (one 6-command status pipeline each) are not the fleet's commands.
        var progress = try await follow(
            fleet,
            start: start,
            stats: { idp.stats },
            fleetStats: { (try? await admin.status().stats) ?? [:] },
            soakRedis: redis
        )
        let monitoringCommands = progress.monitoringCommands
        let summaries = workers.compactMap(\.summary)
        let record = await failover?.value
        let commandsAfter = try await Self.commandsProcessed(redis)
        let fleetStats = (try? await admin.status().stats) ?? [:]
        let finalStats = idp.stats
        var report = DemoReport(
            processes: processes,
            tasks: tasks,
            duration: duration,
            tokenTTL: tokenTTL,
            coordination: coordination,
            idp: finalStats,
            workers: summaries,
            workersReporting: summaries.count,
            // Counted on the primary: across a failover, before and after are two servers' counters.
            redisCommands: failover == nil ? max(0, commandsAfter - commandsBefore - monitoringCommands - 1) : nil,
            fleetStats: fleetStats
        )
        report.topology = topology
        report.fleetStart = start
        report.requestIntervalMs = requestIntervalMs
        report.failover = record.map {
            FailoverSummary($0, fleetStart: start, final: finalStats, workers: summaries)
        }
        report.print(json: json)
        if let timeline {
            progress.timeline.sample(at: unixSeconds() - start, idp.stats)
            try progress.timeline.picture(
                processes: processes,
                tasks: tasks,
                coordination: coordination.rawValue,
                failoverAt: report.failover?.atSeconds
            )
            .write(toFile: timeline, atomically: true, encoding: .utf8)
            if !json { print("\ntimeline: \(timeline)") }
        }
        if soak, let first = progress.samples.first, let last = progress.samples.last {
            print("")
            print("soak: first sample → last sample")
            print("  \(first.line)")
            print("  \(last.line)")
        }
        // stdout is a file or pipe here more often than a terminal: make sure the summary is out before exiting.
        fflush(nil)

        // Leave the user's Redis as it was.
        if sentinel == nil { await redis.deleteStoredKeys(of: keys) }
        redis.close()
        await server.stop()
        await metricsServer?.stop()
        await embedded?.stop()
        await sentinel?.shutdown()
        if !report.passed { throw ExitCode(3) }
    }

    /// Starts `--processes` workers with `environment` into `fleet`; with metrics, worker i (from 1) serves them on
    /// the metrics port + i (or a free port, with port 0).
    func startWorkers(
        in fleet: DemoFleet,
        environment: [String: String],
        metricsAddress: (host: String, port: Int)?
    ) async throws {
        for index in 1...processes {
            var worker = environment
            if let address = metricsAddress {
                worker[MetricsOptions.portVariable] = String(address.port == 0 ? 0 : address.port + index)
                worker[MetricsOptions.hostVariable] = address.host
            }
            fleet.add(try await DemoWorker(environment: worker))
        }
    }

    /// What the live progress collected: its own Redis commands, the soak samples, the timeline.
    struct Progress {
        var monitoringCommands = 0
        var samples: [SoakSample] = []
        var timeline = DemoTimeline()
    }

    /// Prints the progress once a second (the identity provider's `stats` and the fleet's waits from `fleetStats`,
    /// each read counted as 6 commands) and takes the soak samples on `soakRedis`, until every worker has exited.
    func follow(
        _ fleet: DemoFleet,
        start: Double,
        stats: () -> DemoIdentityProvider.Stats,
        fleetStats: () async -> [String: Int64],
        soakRedis: RedisConnection
    ) async throws -> Progress {
        let workers = fleet.workers
        let hardStop = ContinuousClock.now.advanced(by: .seconds(duration + 60))
        var lastProgress = ContinuousClock.now
        var progress = Progress()
        var nextSample = start + 10
        while workers.contains(where: \.isRunning) {
            if timeline != nil, unixSeconds() >= start { progress.timeline.sample(at: unixSeconds() - start, stats()) }
            if soak, unixSeconds() >= nextSample, unixSeconds() < start + duration - 2 {
                let sample = await SoakSample.take(workers: workers, redis: soakRedis, at: unixSeconds() - start)
                progress.monitoringCommands += 3
                progress.samples.append(sample)
                print("  soak: \(sample.line)")
                // Every minute, and once more shortly before the end.
                let last = start + duration - 5
                nextSample = nextSample >= last ? .infinity : min(nextSample + 60, last)
            }
            if ContinuousClock.now > hardStop {
                fleet.send(SIGTERM)
                throw CLIError("the workers did not finish in time")
            }
            try await Task.sleep(for: .milliseconds(100))
            if ContinuousClock.now - lastProgress >= .seconds(1), !json {
                lastProgress = .now
                let stats = stats()
                let fleet = await fleetStats()
                progress.monitoringCommands += 6
                print(
                    String(
                        format: "  t=%5.1fs  requests=%-7d 401s=%-5d refreshes=%-3d expiries=%-3d reuse=%d waits=%d",
                        max(0, unixSeconds() - start),
                        stats.resourceOK + stats.resource401,
                        stats.resource401,
                        stats.refreshes,
                        stats.expiries,
                        stats.reuseEvents,
                        fleet["waits"] ?? 0
                    )
                )
            }
        }
        return progress
    }

    /// Redis: an embedded TLS server with `--tls`, the given one, or the default if it answers, or an embedded
    /// throwaway server.
    private func resolveRedis() async throws -> (String, EmbeddedRedis?) {
        if tls {
            let server = try await EmbeddedRedis(tls: true)
            guard let url = server.tlsURL else { throw CLIError("the embedded redis-server has no TLS port") }
            return (url, server)
        }
        if embeddedRedis {
            let server = try await EmbeddedRedis()
            return (server.url, server)
        }
        if let given = redis.givenURL() {
            let url = try redis.url()
            if let failure = await EmbeddedRedis.failure(url) {
                throw CLIError(
                    "no Redis answers at \(RedisConfiguration.redactingPassword(inURL: given)): \(failure.message)"
                )
            }
            return (url, nil)
        }
        let local = try redis.url()
        if await EmbeddedRedis.answers(local) { return (local, nil) }
        let server = try await EmbeddedRedis()
        return (server.url, server)
    }

    private func printHeader(url: String, embedded: Bool, idp: String, session: String) {
        guard !json else { return }
        print("redis-refresher demo")
        let shown = RedisConfiguration.redactingPassword(inURL: url)
        print("  redis     \(shown)\(embedded ? " (embedded, stopped at the end)" : "")")
        print("  identity  \(idp) (strict: a reused refresh token revokes the session)")
        print("  session   \(session)")
        print(
            "  fleet     \(processes) processes × \(tasks) tasks for \(duration) s, token TTL \(tokenTTL) s, "
                + "refresh latency \(latencyMs) ms, coordination \(coordination.rawValue)"
        )
    }

    private func printTopology(_ topology: SentinelTopology) {
        guard !json else { return }
        let replicas = topology.nodes.dropFirst().map { String($0.port) }.joined(separator: ", ")
        let sentinels = topology.sentinels.map { String($0.port) }.joined(separator: ", ")
        print(
            "  topology  primary on port \(topology.nodes[0].port), replicas on \(replicas), sentinels on \(sentinels); "
                + "down after \(topology.options.downAfter)"
        )
        print("  acks      locks and new sessions wait for \(topology.options.replicas) replicas (WAIT, 1 s)")
        let kind = failoverKind ?? .forced
        print(
            "  failover  "
                + (failoverSeconds.map { "\(kind.rawValue) (\(kind.action)) at t=\(String(format: "%.1f", $0)) s" }
                    ?? "none")
        )
    }

    /// With Sentinel, the failover at its time into the run, announced in the live progress.
    private func startFailover(
        on topology: SentinelTopology?,
        fleetStart: Double,
        provider: DemoIdentityProvider
    ) -> Task<FailoverRecord, Never>? {
        guard let topology, let seconds = failoverSeconds else { return nil }
        let quiet = json
        let kind = failoverKind ?? .forced
        return Task {
            await DemoFailover.run(kind, on: topology, at: fleetStart + seconds, provider: provider) { line in
                guard !quiet else { return }
                print(String(format: "  t=%5.1fs  ", max(0, unixSeconds() - fleetStart)) + line)
            }
        }
    }

    static func commandsProcessed(_ redis: RedisConnection) async throws -> Int {
        try await RedisInfo.fetch("stats", from: redis).int("total_commands_processed") ?? 0
    }
}
