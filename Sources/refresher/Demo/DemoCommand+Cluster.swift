import ArgumentParser
import DemoIdentityProvider
import Foundation
import RedisClient
import RedisRefresher
import RedisTopology

extension DemoCommand {
    /// The primaries of `--topology cluster`.
    static let clusterPrimaries = 3

    /// Replicas per primary: `--cluster-replicas`, else one when the machine has two cores or more (six
    /// `redis-server` processes beside the fleet), else none.
    var replicasPerPrimary: Int {
        clusterReplicas ?? (ProcessInfo.processInfo.activeProcessorCount >= 2 ? 1 : 0)
    }

    /// `--sessions`, 8 by default.
    var sessionCount: Int { sessions ?? 8 }

    /// `--topology cluster`: starts the cluster, runs the multi-session fleet on it, and stops it whatever happens.
    func runCluster(metricsAddress: (host: String, port: Int)?) async throws {
        let replicas = replicasPerPrimary
        if !json {
            print(
                "starting a Redis Cluster on loopback (\(Self.clusterPrimaries) primaries, \(replicas) "
                    + "replica\(replicas == 1 ? "" : "s") each)"
            )
        }
        let topology = try await ClusterTopology.start(
            .init(primaries: Self.clusterPrimaries, replicasPerPrimary: replicas),
            timeout: .seconds(60)
        )
        do {
            try await runFleet(on: topology, metricsAddress: metricsAddress)
        } catch {
            await topology.shutdown()
            throw error
        }
        await topology.shutdown()
    }

    private func runFleet(on topology: ClusterTopology, metricsAddress: (host: String, port: Int)?) async throws {
        let url = topology.seedURL
        var metricsServer: MetricsServer?
        if let metricsAddress {
            let server = try await MetricsServer.start(host: metricsAddress.host, port: metricsAddress.port)
            printError("metrics at \(server.url)")
            metricsServer = server
        }
        let redis = try RedisConnection(url: url)
        defer { redis.close() }
        let names = try await Self.sessionNames(count: sessionCount, spreadOver: redis)
        let keys = try names.map { SessionKeys(session: try SessionName($0)) }
        let slots = keys.map { HashSlot.of($0.lock) }
        let providers = try await SessionProviders.start(names: names, tokenTTL: tokenTTL, latencyMs: latencyMs)
        let fleet = DemoFleet()
        let cleanup = try ShutdownSignal.install { [metricsServer] in
            fleet.send(SIGTERM)
            await providers.stop()
            await metricsServer?.stop()
            await topology.shutdown()
        }
        defer { cleanup.cancel() }

        try await providers.storeLogins(on: redis, by: "demo-login")
        let startMap = try await redis.refreshClusterSlotMap()
        printClusterHeader(url: url, topology: topology, idp: providers.server.url)
        if !json {
            for line in Self.placement(names: names, slots: slots, map: startMap) { print(line) }
        }
        if let metricsServer, !json {
            print("  metrics   \(metricsServer.url) (identity providers); workers on the following ports")
        }
        let start = unixSeconds() + 1.5
        let environment = [
            RedisURL.variable: url, "IDP_URL": providers.urlTemplate, "SESSION": names.joined(separator: ","),
            "TASKS": String(tasks), "START_AT": String(start), "DURATION": String(duration),
            WorkerCommand.coordinationVariable: coordination.rawValue, "REQUEST_INTERVAL_MS": String(requestIntervalMs),
        ]
        try await startWorkers(in: fleet, environment: environment, metricsAddress: metricsAddress)
        let events = startClusterEvents(on: topology, slot: slots[0], fleetStart: start, providers: providers)

        let admins = keys.map { SessionAdmin(connection: redis, keys: $0) }
        var progress = try await follow(
            fleet,
            start: start,
            stats: { providers.totals },
            fleetStats: { await Self.fleetStats(admins) },
            soakRedis: redis
        )
        let summaries = fleet.workers.compactMap(\.summary)
        let records = await events?.value ?? []
        let perSession = providers.stats
        let final = SessionProviders.total(perSession)
        let endMap = try? await redis.refreshClusterSlotMap()
        var counts: [String: WorkerSummary.SessionCounts] = [:]
        for summary in summaries {
            for (name, session) in summary.sessions ?? [:] { counts[name, default: .init()].merge(session) }
        }
        var report = DemoReport(
            processes: processes,
            tasks: tasks,
            duration: duration,
            tokenTTL: tokenTTL,
            coordination: coordination,
            idp: final,
            workers: summaries,
            workersReporting: summaries.count,
            // Spread over the cluster's nodes, whose counters a failover or a restart resets.
            redisCommands: nil,
            fleetStats: await Self.fleetStats(admins)
        )
        report.topology = .cluster
        report.fleetStart = start
        report.requestIntervalMs = requestIntervalMs
        report.sessions = names.indices.map { index in
            ClusterSessionReport(
                name: names[index],
                slot: slots[index],
                primaryPortAtStart: startMap?.primary(forSlot: slots[index])?.port,
                primaryPortAtEnd: endMap?.primary(forSlot: slots[index])?.port,
                stats: perSession[index],
                counts: counts[names[index]]
            )
        }
        report.clusterEvents = records.map {
            ClusterEventSummary($0, fleetStart: start, final: final, workers: summaries)
        }
        report.print(json: json)
        if let timeline {
            progress.timeline.sample(at: unixSeconds() - start, final)
            try progress.timeline.picture(
                processes: processes,
                tasks: tasks,
                coordination: coordination.rawValue,
                failoverAt: report.clusterEvents.first?.atSeconds
            )
            .write(toFile: timeline, atomically: true, encoding: .utf8)
            if !json { print("\ntimeline: \(timeline)") }
        }
        fflush(nil)
        await providers.stop()
        await metricsServer?.stop()
        if !report.passed { throw ExitCode(3) }
    }

    /// `count` session names for one run, `demo-<run>-<i>`, session i on shard i modulo the number of shards (a
    /// suffix added to the name until its slot lands there), so that the sessions spread evenly over the shards.
    static func sessionNames(count: Int, spreadOver redis: RedisConnection) async throws -> [String] {
        guard let map = try await redis.clusterSlotMap(), !map.shards.isEmpty else {
            throw CLIError("the cluster reports no shards")
        }
        let run = String(UInt32.random(in: .min ... .max), radix: 36)
        return (0..<count).map { index in
            let base = "demo-\(run)-\(index)"
            let shard = map.shards[index % map.shards.count]
            // About one name in three lands on a given shard of three: a handful of tries.
            for attempt in 0..<1000 {
                let name = attempt == 0 ? base : "\(base)-\(attempt)"
                // Every key of the session has the hash tag {name}: the slot of `{name}`.
                if map.shard(forSlot: HashSlot.of("{\(name)}")) == shard {
                    return name
                }
            }
            return base
        }
    }

    /// The fleet counters of every session added up.
    static func fleetStats(_ admins: [SessionAdmin]) async -> [String: Int64] {
        var total: [String: Int64] = [:]
        for admin in admins {
            for (name, value) in (try? await admin.status().stats) ?? [:] where name != "last_duration_ms" {
                total[name, default: 0] += value
            }
        }
        return total
    }

    /// `  sessions  8 over 3 shards: port 7001: a-0, a-3, …`.
    static func placement(names: [String], slots: [Int], map: ClusterSlotMap?) -> [String] {
        var byPort: [Int: [String]] = [:]
        for (name, slot) in zip(names, slots) {
            byPort[map?.primary(forSlot: slot)?.port ?? 0, default: []].append("\(name) (slot \(slot))")
        }
        return ["  sessions  \(names.count) over \(byPort.count) shard\(byPort.count == 1 ? "" : "s")"]
            + byPort.keys.sorted().map { port in
                "            primary \(port): " + (byPort[port] ?? []).joined(separator: ", ")
            }
    }

    private func printClusterHeader(url: String, topology: ClusterTopology, idp: String) {
        guard !json else { return }
        print("redis-refresher demo")
        print("  redis     \(url) (embedded cluster, stopped at the end)")
        let primaries = topology.nodes.prefix(Self.clusterPrimaries).map { String($0.port) }.joined(separator: ", ")
        let replicas = topology.nodes.dropFirst(Self.clusterPrimaries).map { String($0.port) }
        print(
            "  topology  primaries on ports \(primaries)"
                + (replicas.isEmpty ? ", no replicas" : "; replicas on \(replicas.joined(separator: ", "))")
        )
        print(
            "  acks      "
                + (replicas.isEmpty
                    ? "off: shards without replicas are not waited for"
                    : "locks and new sessions wait for the shard's replica (WAIT, 1 s)")
        )
        print("  identity  \(idp)/sessions/NAME, one provider per session (strict: a reused refresh token revokes it)")
        print(
            "  fleet     \(processes) processes × \(sessionCount) sessions × \(tasks) tasks for \(duration) s, token TTL "
                + "\(tokenTTL) s, refresh latency \(latencyMs) ms, coordination \(coordination.rawValue)"
        )
        let kind = failoverKind ?? .forced
        var events: [String] = []
        if let seconds = failoverSeconds {
            let action = kind == .kill ? ClusterEventRecord.Kind.kill.action : ClusterEventRecord.Kind.failover.action
            events.append(String(format: "failover (%@) at t=%.1f s", action, seconds))
        }
        if let migrateAt { events.append(String(format: "slot move at t=%.1f s", migrateAt)) }
        print("  events    " + (events.isEmpty ? "none" : events.joined(separator: "; ") + ", of the first session"))
    }

    /// The failover and the slot move of the first session's slot, at their times, announced in the progress.
    private func startClusterEvents(
        on topology: ClusterTopology,
        slot: Int,
        fleetStart: Double,
        providers: SessionProviders
    ) -> Task<[ClusterEventRecord], Never>? {
        var plans: [DemoClusterEvents.Plan] = []
        if let seconds = failoverSeconds {
            plans.append(.init(kind: failoverKind == .kill ? .kill : .failover, at: fleetStart + seconds))
        }
        if let migrateAt { plans.append(.init(kind: .migration, at: fleetStart + migrateAt)) }
        guard !plans.isEmpty else { return nil }
        let quiet = json
        return Task {
            await DemoClusterEvents.run(plans, on: topology, slot: slot, stats: { providers.totals }) { line in
                guard !quiet else { return }
                print(String(format: "  t=%5.1fs  ", max(0, unixSeconds() - fleetStart)) + line)
            }
        }
    }
}
