import DemoIdentityProvider
import Foundation
import RedisClient
import RedisRefresher

/// How the fleet coordinates in one storm.
enum StormMode: String, CaseIterable, Codable, Sendable {
    /// The product: lock + pub/sub wake-up (polling only as a fallback).
    case pubsub
    /// The same lock with only the 1 s polling wake-up: the browser module's behaviour.
    case poll
    /// No coordination: every task refreshes on its own.
    case none

    var environment: [String: String] {
        switch self {
        case .pubsub: ["COORDINATION": "redis", "WAKE": "pubsub"]
        case .poll: ["COORDINATION": "redis", "WAKE": "poll"]
        case .none: ["COORDINATION": "none"]
        }
    }
}

/// The measurements of one storm: P processes × T tasks hit a 401 at the same instant.
struct StormResult: Codable, Sendable {
    var processes: Int
    var tasks: Int
    var mode: StormMode
    var refreshes: Int
    var reuseEvents: Int
    var tasksOK: Int
    var tasksTotal: Int
    /// Refresh stored → task resumed, for tasks of processes that did not refresh and were waiting when it was
    /// stored, in milliseconds.
    var wakeP50Ms: Double?
    var wakeP99Ms: Double?
    var wakeMaxMs: Double?
    /// How many tasks were waiting when the refresh was stored (the sample of the wake-up latencies).
    var wokenTasks: Int
    /// First 401 → last success, in milliseconds.
    var stormMs: Double?
    /// Commands the fleet sent to Redis during the storm (`INFO commandstats`).
    var redisCommands: Int
    var redisCommandsPerProcess: Double
    /// The most commands one connection sent (the holder's command connection, in coordinated modes).
    var maxCommandsPerConnection: Int
    /// Whether every process was connected and waiting before the start instant.
    var barrierHeld: Bool
    var commandBreakdown: [String: Int]

    /// Correct means: one refresh and no reuse (with coordination); every task served.
    var correct: Bool {
        mode == .none ? true : refreshes == 1 && reuseEvents == 0 && tasksOK == tasksTotal
    }
}

/// Runs storms with real worker processes (`refresher worker`) against the built-in identity provider.
struct StormBench {
    let redisURL: String
    let refreshLatency: Duration
    let executable: URL

    func run(processes: Int, tasks: Int, mode: StormMode) async throws -> StormResult {
        let idp = DemoIdentityProvider(
            configuration: .init(refreshLatency: refreshLatency, accessTokenLifetime: .seconds(3600)))
        let server = try await idp.serve()
        let redis = try RedisConnection(url: redisURL)
        defer { redis.close() }
        let sessionName = "bench-\(mode.rawValue)-\(UInt32.random(in: .min ... .max))"
        let keys = SessionKeys(session: try SessionName(sessionName))
        let admin = SessionAdmin(connection: redis, keys: keys)
        let login = idp.login()
        // The stored access token is one the provider no longer accepts: every task's first call is a 401.
        _ = try await admin.putSession(
            RefreshedTokens(
                accessToken: "expired-\(login.access_token)", refreshToken: login.refresh_token,
                expiresIn: .seconds(3600)),
            by: "bench")

        let startAt = unixSeconds() + 1.0 + Double(processes) * 0.12
        var environment = mode.environment
        environment["REDIS_URL"] = redisURL
        environment["IDP_URL"] = server.url
        environment["SESSION"] = sessionName
        environment["TASKS"] = String(tasks)
        environment["START_AT"] = String(startAt)
        environment["TASK_TIMEOUT"] = "20"
        // Workers stay up until the storm is over everywhere: a process exiting early would steal CPU from the
        // wake-ups being measured on these 2-core machines.
        environment["LINGER"] = mode == .poll ? "2.5" : "1.5"
        let workers = try (0..<processes).map { _ in try BenchWorker(executable: executable, environment: environment) }
        // Reset the server's counters once every worker is connected, before the start instant.
        while unixSeconds() < startAt - 0.05, !workers.allSatisfy(\.isReady) {
            try await Task.sleep(for: .milliseconds(5))
        }
        let barrierHeld = workers.allSatisfy(\.isReady) && unixSeconds() < startAt
        // MONITOR tells client commands from the commands scripts run inside Redis (`[0 lua]`), and which
        // connection sent each one.
        let monitor = try RedisMonitor(configuration: RedisConfiguration(url: redisURL))
        try await monitor.start()
        let counting = Task { await ClientCommandCount.collect(monitor.lines) }
        let hardStop = startAt + 30
        while workers.contains(where: \.isRunning) {
            if unixSeconds() > hardStop {
                for worker in workers { worker.kill() }
                break
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        // Let the monitor see the last commands (the workers' shutdown releases), then stop it.
        try await redis.send("PING")
        try await Task.sleep(for: .milliseconds(100))
        monitor.close()
        let counted = await counting.value
        await server.stop()
        _ = try? await redis.send(
            "DEL", RedisArgument(keys.lock), RedisArgument(keys.sessionHash), RedisArgument(keys.stats),
            RedisArgument(keys.lastRefreshTime))

        let lines = workers.flatMap(\.lines)
        let finished = lines.filter(\.holder).compactMap(\.tFresh).min()
        // Only tasks that were waiting when the refresh finished woke up: a task whose 401 came later (an
        // overloaded identity provider answers 1,024 requests slowly) was served from memory, not woken.
        let wakeups = lines.filter { !$0.holder && ($0.t401 ?? .infinity) < (finished ?? 0) }.compactMap(\.tFresh)
            .map { max(0, ($0 - (finished ?? $0)) * 1000) }.sorted()
        let first401 = lines.compactMap(\.t401).min()
        let lastOK = lines.compactMap(\.tOK).max()
        let total = counted.total
        let stats = idp.stats
        return StormResult(
            processes: processes, tasks: tasks, mode: mode, refreshes: stats.refreshes, reuseEvents: stats.reuseEvents,
            tasksOK: lines.filter(\.ok).count, tasksTotal: processes * tasks,
            wakeP50Ms: mode == .none ? nil : Statistics.percentile(wakeups, 50),
            wakeP99Ms: mode == .none ? nil : Statistics.percentile(wakeups, 99),
            wakeMaxMs: mode == .none ? nil : wakeups.last, wokenTasks: wakeups.count,
            stormMs: first401.flatMap { start in lastOK.map { ($0 - start) * 1000 } },
            redisCommands: total, redisCommandsPerProcess: Double(total) / Double(processes),
            maxCommandsPerConnection: counted.maxPerConnection, barrierHeld: barrierHeld,
            commandBreakdown: counted.byCommand)
    }

    /// Calls per command since the last `CONFIG RESETSTAT`, without the benchmark's own bookkeeping.
    static func commandStats(_ redis: RedisConnection) async throws -> [String: Int] {
        let info = try await redis.send("INFO", "commandstats").string ?? ""
        var result: [String: Int] = [:]
        for line in info.split(whereSeparator: \.isNewline) where line.hasPrefix("cmdstat_") {
            let name = line.dropFirst("cmdstat_".count).prefix { $0 != ":" }
            guard name != "info", name != "config|resetstat", name != "config" else { continue }
            let calls = line.split(separator: ",").first { $0.contains("calls=") }?.split(separator: "=").last
            result[String(name)] = Int(calls ?? "") ?? 0
        }
        return result
    }
}

/// Client commands seen by `MONITOR`, without those that scripts ran inside Redis and without the benchmark's own.
struct ClientCommandCount: Sendable {
    var byCommand: [String: Int] = [:]
    var byConnection: [String: Int] = [:]
    var total: Int { byCommand.values.reduce(0, +) }
    var maxPerConnection: Int { byConnection.values.max() ?? 0 }

    static func collect(_ lines: AsyncStream<String>) async -> ClientCommandCount {
        var count = ClientCommandCount()
        for await line in lines {
            // `<time> [<db> <client>] "<command>" ...`
            guard let open = line.firstIndex(of: "["), let close = line.firstIndex(of: "]") else { continue }
            let client = line[line.index(after: open)..<close].split(separator: " ").last.map(String.init) ?? ""
            guard client != "lua" else { continue }
            let rest = line[line.index(after: close)...].drop { $0 == " " }
            let command = rest.dropFirst().prefix { $0 != "\"" }.lowercased()
            // The benchmark's own PING that flushes the monitor.
            if command == "ping" { continue }
            count.byCommand[command, default: 0] += 1
            count.byConnection[client, default: 0] += 1
        }
        return count
    }
}

/// One `refresher worker` process in a storm.
///
/// `@unchecked Sendable`: `process` and the pipes are set once; the collected output is behind its own lock.
final class BenchWorker: @unchecked Sendable {
    private let process = Process()
    private let stdout = OutputCollector()
    private let stderr = OutputCollector()

    init(executable: URL, environment: [String: String]) throws {
        process.executableURL = executable
        process.arguments = ["worker"]
        var env = ProcessInfo.processInfo.environment
        // The password, if any, is in REDIS_URL now: a second source would be refused as ambiguous.
        for key in RedisPasswordOptions.variables { env[key] = nil }
        for (key, value) in environment { env[key] = value }
        process.environment = env
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let stdout = self.stdout
        let stderr = self.stderr
        out.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if !data.isEmpty { stdout.append(data) }
        }
        err.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if !data.isEmpty { stderr.append(data) }
        }
        try process.run()
    }

    var isRunning: Bool { process.isRunning }
    var isReady: Bool { String(decoding: stderr.data, as: UTF8.self).contains("ready") }
    func kill() { process.terminate() }

    var lines: [StormLine] {
        String(decoding: stdout.data, as: UTF8.self).split(separator: "\n").compactMap {
            try? JSONDecoder().decode(StormLine.self, from: Data($0.utf8))
        }
    }
}

/// Percentiles and medians.
enum Statistics {
    /// Nearest-rank percentile of sorted values.
    static func percentile(_ sorted: [Double], _ p: Double) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(max(rank, 0), sorted.count - 1)]
    }

    static func median(_ values: [Double]) -> Double? {
        percentile(values.sorted(), 50)
    }
}
