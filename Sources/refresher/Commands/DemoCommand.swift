import ArgumentParser
import DemoIdentityProvider
import Foundation
import RedisRefresher

/// The main job: a fleet of worker processes sharing one session against a strict identity provider, showing that
/// every token expiry costs exactly one refresh and nobody is logged out — or, with `--coordination none`, the
/// logout storm it prevents.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a demo fleet against a built-in identity provider and an embedded or given Redis.")

    @Option(
        help:
            "Redis URL ($REDIS_URL; a password here is visible to `ps`); when none is given and nothing answers, an embedded redis-server is started."
    )
    var redisURL: String?
    @OptionGroup var password: RedisPasswordOptions
    @Option(help: "Worker processes.") var processes = 8
    @Option(help: "Tasks per worker process.") var tasks = 16
    @Option(help: "How long the fleet runs, in seconds.") var duration = 14.0
    @Option(help: "Access-token lifetime at the identity provider, in seconds.") var tokenTTL = 4.0
    @Option(help: "Refresh latency of the identity provider, in milliseconds.") var latencyMs = 200
    @Option(help: "Pause between requests of one task, in milliseconds.") var requestIntervalMs = 100
    @Option(help: "redis (the library) or none (every worker refreshes on its own).") var coordination = "redis"
    @Flag(help: "Always start an embedded throwaway redis-server, even if one answers.") var embeddedRedis = false
    @Flag(help: "Print the summary as JSON.") var json = false
    @Flag(
        help:
            "Soak: sample worker memory and threads, Redis clients, keys and memory every minute; compare the first and last samples."
    )
    var soak = false

    func validate() throws {
        guard (1...256).contains(processes) else { throw ValidationError("--processes must be 1...256") }
        guard (1...10_000).contains(tasks) else { throw ValidationError("--tasks must be 1...10000") }
        guard duration > 0, duration <= 3600 else { throw ValidationError("--duration must be in (0, 3600] seconds") }
        guard tokenTTL >= 1 else { throw ValidationError("--token-ttl must be at least 1 second") }
        guard latencyMs >= 0, requestIntervalMs >= 0 else { throw ValidationError("latencies must not be negative") }
        guard coordination == "redis" || coordination == "none" else {
            throw ValidationError("--coordination must be redis or none")
        }
    }

    func run() async throws {
        let (url, embedded) = try await resolveRedis()
        let idp = DemoIdentityProvider(
            configuration: .init(
                refreshLatency: .milliseconds(latencyMs), accessTokenLifetime: .milliseconds(Int64(tokenTTL * 1000))))
        let server = try await idp.serve()
        let sessionName = "demo-\(UInt32.random(in: .min ... .max))"
        let keys = SessionKeys(session: try SessionName(sessionName))
        let redis = try RedisConnection(url: url)
        let admin = SessionAdmin(connection: redis, keys: keys)
        let fleet = DemoFleet()
        let cleanup = ShutdownSignal.install {
            fleet.terminate()
            await server.stop()
            await embedded?.stop()
        }
        defer { cleanup.cancel() }

        let login = idp.login()
        _ = try await admin.putSession(
            RefreshedTokens(
                accessToken: login.access_token, refreshToken: login.refresh_token,
                expiresIn: .seconds(login.expires_in)),
            by: "demo-login")
        let commandsBefore = try await Self.commandsProcessed(redis)

        printHeader(url: url, embedded: embedded != nil, idp: server.url, session: sessionName)
        let start = unixSeconds() + 1.5
        let environment = [
            "REDIS_URL": url, "IDP_URL": server.url, "SESSION": sessionName, "TASKS": String(tasks),
            "START_AT": String(start), "DURATION": String(duration), "COORDINATION": coordination,
            "REQUEST_INTERVAL_MS": String(requestIntervalMs),
        ]
        for _ in 0..<processes { fleet.add(try DemoWorker(environment: environment)) }
        let workers = fleet.workers

        // Live progress, once a second, until every worker has exited.
        let hardStop = ContinuousClock.now.advanced(by: .seconds(duration + 60))
        var lastProgress = ContinuousClock.now
        // The progress lines' own reads (one 6-command status pipeline each) are not the fleet's commands.
        var monitoringCommands = 0
        var samples: [SoakSample] = []
        var nextSample = start + 10
        while workers.contains(where: \.isRunning) {
            if soak, unixSeconds() >= nextSample, unixSeconds() < start + duration - 2 {
                let sample = await SoakSample.take(workers: workers, redis: redis, at: unixSeconds() - start)
                monitoringCommands += 3
                samples.append(sample)
                print("  soak: \(sample.line)")
                // Every minute, and once more shortly before the end.
                let last = start + duration - 5
                nextSample = nextSample >= last ? .infinity : min(nextSample + 60, last)
            }
            if ContinuousClock.now > hardStop {
                for worker in workers { worker.terminate() }
                throw CLIError("the workers did not finish in time")
            }
            try await Task.sleep(for: .milliseconds(100))
            if ContinuousClock.now - lastProgress >= .seconds(1), !json {
                lastProgress = .now
                let stats = idp.stats
                let fleet = (try? await admin.status().stats) ?? [:]
                monitoringCommands += 6
                print(
                    String(
                        format: "  t=%5.1fs  requests=%-7d 401s=%-5d refreshes=%-3d expiries=%-3d reuse=%d waits=%d",
                        max(0, unixSeconds() - start), stats.resourceOK + stats.resource401, stats.resource401,
                        stats.refreshes, stats.expiries, stats.reuseEvents, fleet["waits"] ?? 0))
            }
        }
        let summaries = workers.compactMap(\.summary)
        let commandsAfter = try await Self.commandsProcessed(redis)
        let fleetStats = (try? await admin.status().stats) ?? [:]
        let report = DemoReport(
            processes: processes, tasks: tasks, duration: duration, tokenTTL: tokenTTL, coordination: coordination,
            idp: idp.stats, workers: summaries, workersReporting: summaries.count,
            redisCommands: max(0, commandsAfter - commandsBefore - monitoringCommands - 1), fleetStats: fleetStats)
        report.print(json: json)
        if soak, let first = samples.first, let last = samples.last {
            print("")
            print("soak: first sample → last sample")
            print("  \(first.line)")
            print("  \(last.line)")
        }
        // stdout is a file or pipe here more often than a terminal: make sure the summary is out before exiting.
        fflush(nil)

        // Leave the user's Redis as it was.
        _ = try? await redis.send(
            "DEL", RedisArgument(keys.lock), RedisArgument(keys.sessionHash), RedisArgument(keys.stats),
            RedisArgument(keys.lastRefreshTime))
        redis.close()
        await server.stop()
        await embedded?.stop()
        if !report.passed { throw ExitCode(3) }
    }

    /// Redis: the given one, or the default if it answers, or an embedded throwaway server.
    private func resolveRedis() async throws -> (String, EmbeddedRedis?) {
        if embeddedRedis {
            let server = try await EmbeddedRedis()
            return (server.url, server)
        }
        if let given = redisURL ?? ProcessInfo.processInfo.environment["REDIS_URL"] {
            let url = try password.apply(toURL: given)
            guard await EmbeddedRedis.answers(url) else {
                throw CLIError("no Redis answers at \(RedisConfiguration.redactingPassword(inURL: given))")
            }
            return (url, nil)
        }
        let local = try password.apply(toURL: "redis://127.0.0.1:6379")
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
                + "refresh latency \(latencyMs) ms, coordination \(coordination)")
    }

    static func commandsProcessed(_ redis: RedisConnection) async throws -> Int {
        let info = try await redis.send("INFO", "stats").string ?? ""
        let line = info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("total_commands_processed:") } ?? ""
        return Int(line.split(separator: ":").last ?? "") ?? 0
    }
}

/// One worker process of the demo.
///
/// `@unchecked Sendable`: `process` and `pipe` are set once; the output is read after the process exits.
final class DemoWorker: @unchecked Sendable {
    private let process = Process()
    private let pipe = Pipe()
    private let collected = OutputCollector()

    init(environment: [String: String]) throws {
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = ["worker"]
        var env = ProcessInfo.processInfo.environment
        // The password, if any, is in REDIS_URL now: a second source would be refused as ambiguous.
        for key in RedisPasswordOptions.variables { env[key] = nil }
        for (key, value) in environment { env[key] = value }
        process.environment = env
        process.standardOutput = pipe
        process.standardError = FileHandle.standardError
        let collected = self.collected
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if !data.isEmpty { collected.append(data) }
        }
        try process.run()
    }

    var isRunning: Bool { process.isRunning }
    var pid: Int32 { process.processIdentifier }

    func terminate() {
        if process.isRunning { process.terminate() }
    }

    /// The worker's summary line, once it has exited.
    var summary: WorkerSummary? {
        let text = String(decoding: collected.data, as: UTF8.self)
        for line in text.split(separator: "\n").reversed() {
            if let summary = try? JSONDecoder().decode(WorkerSummary.self, from: Data(line.utf8)) { return summary }
        }
        return nil
    }
}

/// One soak measurement: what must not grow over a long run.
struct SoakSample: Sendable {
    var seconds: Double
    var workerRSSMB: Double
    var workerThreads: Int
    var redisClients: Int
    var redisKeys: Int
    var redisMemoryMB: Double

    var line: String {
        String(
            format: "t=%6.0fs workers RSS %.1f MB, %d threads; Redis %d clients, %d keys, %.1f MB", seconds,
            workerRSSMB,
            workerThreads, redisClients, redisKeys, redisMemoryMB)
    }

    static func take(workers: [DemoWorker], redis: RedisConnection, at seconds: Double) async -> SoakSample {
        var rss = 0.0
        var threads = 0
        for worker in workers {
            guard let status = try? String(contentsOfFile: "/proc/\(worker.pid)/status", encoding: .utf8) else {
                continue
            }
            for line in status.split(separator: "\n") {
                let value =
                    line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first.flatMap { Double($0) }
                    ?? 0
                if line.hasPrefix("VmRSS:") { rss += value / 1024 }
                if line.hasPrefix("Threads:") { threads += Int(value) }
            }
        }
        func field(_ info: String, _ name: String) -> Double {
            let line = info.split(whereSeparator: \.isNewline).first { $0.hasPrefix(name + ":") } ?? ""
            return Double(line.split(separator: ":").last ?? "") ?? 0
        }
        let clients = (try? await redis.send("INFO", "clients").string) ?? ""
        let memory = (try? await redis.send("INFO", "memory").string) ?? ""
        let keys = (try? await redis.send("DBSIZE").int) ?? 0
        return SoakSample(
            seconds: seconds, workerRSSMB: rss, workerThreads: threads,
            redisClients: Int(field(clients, "connected_clients")),
            redisKeys: Int(keys), redisMemoryMB: field(memory, "used_memory") / 1_048_576)
    }
}

/// The demo's worker processes, reachable from the signal handler.
///
/// `@unchecked Sendable`: `list` is only touched under `lock`.
final class DemoFleet: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [DemoWorker] = []

    func add(_ worker: DemoWorker) {
        lock.withLock { list.append(worker) }
    }

    var workers: [DemoWorker] { lock.withLock { list } }

    func terminate() {
        for worker in workers { worker.terminate() }
    }
}

/// Bytes appended from a pipe's handler thread.
///
/// `@unchecked Sendable`: `buffer` is only touched under `lock`.
final class OutputCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var buffer = Data()

    func append(_ data: Data) {
        lock.lock()
        buffer.append(data)
        lock.unlock()
    }

    var data: Data {
        lock.lock()
        defer { lock.unlock() }
        return buffer
    }
}

/// The demo's summary table.
struct DemoReport: Encodable {
    let processes: Int
    let tasks: Int
    let duration: Double
    let tokenTTL: Double
    let coordination: String
    let idp: DemoIdentityProvider.Stats
    let workers: [WorkerSummary]
    let workersReporting: Int
    let redisCommands: Int
    let fleetStats: [String: Int64]

    var wakeP50: Int64 { percentile(50) }
    var wakeP99: Int64 { percentile(99) }
    var passed: Bool { !idp.revoked && idp.reuseEvents == 0 && workersReporting == processes }

    private func percentile(_ p: Double) -> Int64 {
        let sorted = workers.flatMap(\.wakeMilliseconds).sorted()
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(max(rank, 0), sorted.count - 1)]
    }

    enum CodingKeys: String, CodingKey {
        case processes, tasks, duration, tokenTTL, coordination, requestsServed, unauthorized, tokenExpiries
        case refreshes, reuseEvents, loggedOut, wakeP50Ms, wakeP99Ms, redisCommands, fleetStats, passed
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(processes, forKey: .processes)
        try container.encode(tasks, forKey: .tasks)
        try container.encode(duration, forKey: .duration)
        try container.encode(tokenTTL, forKey: .tokenTTL)
        try container.encode(coordination, forKey: .coordination)
        try container.encode(idp.resourceOK, forKey: .requestsServed)
        try container.encode(idp.resource401, forKey: .unauthorized)
        try container.encode(idp.expiries, forKey: .tokenExpiries)
        try container.encode(idp.refreshes, forKey: .refreshes)
        try container.encode(idp.reuseEvents, forKey: .reuseEvents)
        try container.encode(idp.revoked, forKey: .loggedOut)
        try container.encode(wakeP50, forKey: .wakeP50Ms)
        try container.encode(wakeP99, forKey: .wakeP99Ms)
        try container.encode(redisCommands, forKey: .redisCommands)
        try container.encode(fleetStats, forKey: .fleetStats)
        try container.encode(passed, forKey: .passed)
    }

    func print(json: Bool) {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            Swift.print(String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self))
            return
        }
        let expiriesMatch = idp.refreshes == idp.expiries
        let rows: [(String, String)] = [
            ("requests served", "\(idp.resourceOK)"),
            ("401 responses", "\(idp.resource401)"),
            ("token expiries", "\(idp.expiries)"),
            (
                "refreshes performed",
                "\(idp.refreshes)"
                    + (coordination == "redis"
                        ? (expiriesMatch ? "  (= expiries)" : "  (expiries: \(idp.expiries))") : "")
            ),
            (
                "refresh-token reuse",
                "\(idp.reuseEvents)" + (idp.reuseEvents == 0 ? "  (must be 0)" : "  REUSE DETECTED")
            ),
            ("fleet logged out", idp.revoked ? "YES: the identity provider revoked the session" : "no"),
            ("wake-up latency p50/p99", coordination == "redis" ? "\(wakeP50) / \(wakeP99) ms" : "n/a"),
            ("Redis commands used", "\(redisCommands)"),
            ("fleet waits / takeovers", "\(fleetStats["waits"] ?? 0) / \(fleetStats["takeovers"] ?? 0)"),
            ("workers reporting", "\(workersReporting) of \(processes)"),
        ]
        Swift.print("")
        Swift.print("summary")
        for (label, value) in rows {
            Swift.print("  " + label.padding(toLength: 26, withPad: " ", startingAt: 0) + value)
        }
        Swift.print(
            passed
                ? "\nresult: PASS — one refresh per expiry, nobody logged out"
                : "\nresult: FAIL — the fleet was logged out")
    }
}
