import ChildProcesses
import DemoIdentityProvider
import Foundation
import Histogram
import RedisClient
import RedisRefresher

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
    /// Every woken task's wake-up latency; not part of the JSON output.
    var wakeups = Histogram<UInt64>.latencies()
    /// The storm over time, for the pictures; not part of the JSON output.
    var timeline = StormTimeline()

    enum CodingKeys: String, CodingKey {
        case processes, tasks, mode, refreshes, reuseEvents, tasksOK, tasksTotal, wakeP50Ms, wakeP99Ms, wakeMaxMs
        case wokenTasks, stormMs, redisCommands, redisCommandsPerProcess, maxCommandsPerConnection, barrierHeld
        case commandBreakdown
    }

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
            configuration: .init(refreshLatency: refreshLatency, accessTokenLifetime: .seconds(3600))
        )
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
                accessToken: "expired-\(login.access_token)",
                refreshToken: login.refresh_token,
                expiresIn: .seconds(3600)
            ),
            by: "bench"
        )

        let startAt = unixSeconds() + 1.0 + Double(processes) * 0.12
        var environment = mode.environment
        environment[RedisURL.variable] = redisURL
        environment["IDP_URL"] = server.url
        environment["SESSION"] = sessionName
        environment["TASKS"] = String(tasks)
        environment["START_AT"] = String(startAt)
        environment["TASK_TIMEOUT"] = "20"
        // Workers stay up until the storm is over everywhere: a process exiting early would steal CPU from the
        // wake-ups being measured on these 2-core machines.
        environment["LINGER"] = mode == .poll ? "2.5" : "1.5"
        var workers: [BenchWorker] = []
        for _ in 0..<processes {
            workers.append(try await BenchWorker(executable: executable, environment: environment))
        }
        // Every worker connected and waiting before the start instant.
        let barrier = Duration.seconds(max(0, startAt - 0.05 - unixSeconds()))
        let ready = await withTaskGroup(of: Bool.self) { group in
            for worker in workers { group.addTask { await worker.waitUntilReady(timeout: barrier) } }
            return await group.reduce(true) { $0 && $1 }
        }
        let barrierHeld = ready && unixSeconds() < startAt
        // MONITOR tells client commands from the commands scripts run inside Redis (`[0 lua]`), and which
        // connection sent each one.
        let monitor = try RedisMonitor(configuration: RedisConfiguration(url: redisURL))
        try await monitor.start()
        let counting = Task { await ClientCommandCount.collect(monitor.lines) }
        let hardStop = Duration.seconds(startAt + 30 - unixSeconds())
        await withTaskGroup(of: Void.self) { group in
            for worker in workers { group.addTask { await worker.wait(timeout: hardStop) } }
        }
        // Let the monitor see the last commands (the workers' shutdown releases), then stop it.
        try await redis.send("PING")
        try await Task.sleep(for: .milliseconds(100))
        monitor.close()
        let counted = await counting.value
        await server.stop()
        await redis.deleteStoredKeys(of: keys)

        let lines = workers.flatMap(\.lines)
        let finished = lines.filter(\.holder).compactMap(\.tFresh).min()
        // Only tasks that were waiting when the refresh finished woke up: a task whose 401 came later (an
        // overloaded identity provider answers 1,024 requests slowly) was served from memory, not woken.
        var wakeups = Histogram<UInt64>.latencies()
        if let finished, mode != .none {
            for line in lines where !line.holder && (line.t401 ?? .infinity) < finished {
                if let fresh = line.tFresh { wakeups.record(milliseconds: (fresh - finished) * 1000) }
            }
        }
        let first401 = lines.compactMap(\.t401).min()
        let lastOK = lines.compactMap(\.tOK).max()
        let total = counted.total
        let stats = idp.stats
        return StormResult(
            processes: processes,
            tasks: tasks,
            mode: mode,
            refreshes: stats.refreshes,
            reuseEvents: stats.reuseEvents,
            tasksOK: lines.filter(\.ok).count,
            tasksTotal: processes * tasks,
            wakeP50Ms: wakeups.milliseconds(atPercentile: 50),
            wakeP99Ms: wakeups.milliseconds(atPercentile: 99),
            wakeMaxMs: wakeups.maxMilliseconds,
            wokenTasks: Int(wakeups.totalCount),
            stormMs: first401.flatMap { start in lastOK.map { ($0 - start) * 1000 } },
            redisCommands: total,
            redisCommandsPerProcess: Double(total) / Double(processes),
            maxCommandsPerConnection: counted.maxPerConnection,
            barrierHeld: barrierHeld,
            commandBreakdown: counted.byCommand,
            wakeups: wakeups,
            timeline: StormTimeline(lines, refreshStored: mode == .none ? nil : finished)
        )
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
final class BenchWorker: Sendable {
    private let child: ChildProcess

    init(executable: URL, environment: [String: String]) async throws {
        var configuration = ChildProcess.Configuration.refresher(
            ["worker"],
            environment: environment,
            standardError: .collect
        )
        configuration.executable = executable.path
        child = try await ChildProcess.start(configuration)
    }

    /// Waits until the worker says it is connected and waiting for the start instant; whether it did in time.
    func waitUntilReady(timeout: Duration) async -> Bool {
        (try? await child.waitForLine(on: .standardError, timeout: timeout) { $0.contains("ready") }) != nil
    }

    /// Waits for the worker to exit; kills it if it has not after `timeout`.
    func wait(timeout: Duration) async {
        _ = try? await child.wait(timeout: timeout)
    }

    var lines: [StormLine] {
        child.lines().compactMap { try? JSONDecoder().decode(StormLine.self, from: Data($0.utf8)) }
    }
}
