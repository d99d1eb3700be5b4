import ChildProcesses
import Foundation
import Histogram
import RedisClient
import RedisRefresher
import Synchronization

/// Single-process measurements: the fast path, round trips, throughput, and the cost of many waiting tasks.
struct MicroResults: Codable, Sendable {
    /// Cached `credentials()` reads per second, one task (one core).
    var credentialsReadsPerSecond: Double
    /// `GET` round trip on loopback, µs.
    var getRoundTripP50Us: Double
    var getRoundTripP99Us: Double
    /// `SET NX PX` + owner-checked release (EVALSHA), µs per pair.
    var lockAcquireReleaseUs: Double
    /// Commands per second with `pipeline(_:)` batches of 1,000 `SET`s.
    var pipelinedCommandsPerSecond: Double
    /// Commands per second from 1,000 concurrent tasks on one connection (automatic pipelining).
    var concurrentCommandsPerSecond: Double
    /// 10,000 tasks waiting on one refresh in one process.
    var waitingTasks: Int
    var waitingRSSGrowthMB: Double
    /// The same number of tasks each suspended on a bare continuation: the cost of the tasks themselves.
    var waitingBaselineRSSGrowthMB: Double
    var waitingRedisCommands: Int
    var waitingResolvedMs: Double
    /// `GET` round trip and `pipeline(_:)` throughput per wire, measured one after the other in the same run: the
    /// URL's own wire first, then TLS when the run has a second, TLS URL.
    var wires: [WireResult]
}

/// The round trip and throughput of one wire (plain TCP or TLS).
struct WireResult: Codable, Sendable {
    /// `plain` or `TLS`.
    var wire: String
    var getRoundTripP50Us: Double
    var getRoundTripP99Us: Double
    var pipelinedCommandsPerSecond: Double
}

struct MicroBench {
    let redisURL: String
    /// A second server URL over TLS (`rediss://`), whose round trip and throughput are measured beside the first's.
    var tlsURL: String?
    /// Divides every iteration count (1 for the real measurement; the smoke test uses a large one).
    var scale = 1

    func run(progress: (String) -> Void) async throws -> MicroResults {
        let redis = try RedisConnection(url: redisURL)
        defer { redis.close() }
        let session = "bench-micro-\(UInt32.random(in: .min ... .max))"
        let keys = SessionKeys(session: try SessionName(session))
        let refresher = try await RedisRefresher(configuration: .init(redisURL: redisURL, session: session)) { _ in
            RefreshedTokens(accessToken: "never", refreshToken: "never", expiresIn: .seconds(60))
        }
        _ = try await refresher.seedSession(
            RefreshedTokens(accessToken: "micro-access", refreshToken: "micro-refresh", expiresIn: .seconds(3600))
        )

        // 1. The fast path.
        var bestRate = 0.0
        for _ in 0..<5 {
            let reads = 2_000_000 / scale
            let started = ContinuousClock.now
            var generation: Int64 = 0
            for _ in 0..<reads { generation &+= try await refresher.credentials().generation }
            let elapsed = (ContinuousClock.now - started).seconds
            precondition(generation != 0)
            bestRate = max(bestRate, Double(reads) / elapsed)
        }
        progress(String(format: "micro: cached credentials() %.1f M reads/s", bestRate / 1e6))

        // 2. GET round trip and pipeline throughput, per wire.
        var wires = [try await measureWire(redis, name: redisURL.hasPrefix("rediss://") ? "TLS" : "plain", keys: keys)]
        if let tlsURL {
            let secure = try RedisConnection(url: tlsURL)
            defer { secure.close() }
            wires.append(try await measureWire(secure, name: "TLS", keys: keys))
        }
        for wire in wires {
            progress(
                String(
                    format: "micro: %@ GET round trip p50 %.0f µs, p99 %.0f µs; pipelined %.0f k commands/s",
                    wire.wire,
                    wire.getRoundTripP50Us,
                    wire.getRoundTripP99Us,
                    wire.pipelinedCommandsPerSecond / 1000
                )
            )
        }

        // 3. Lock acquire + owner-checked release.
        let admin = SessionAdmin(connection: redis, keys: keys)
        let pairs = 5_000 / scale
        var started = ContinuousClock.now
        for _ in 0..<pairs {
            _ = try await redis.send("SET", RedisArgument(keys.lock), "micro-owner", "NX", "PX", "10000")
            _ = try await admin.release(owner: "micro-owner", reason: "bench")
        }
        let pairUs = (ContinuousClock.now - started).seconds * 1e6 / Double(pairs)
        progress(String(format: "micro: lock acquire + release %.0f µs", pairUs))

        // 4. Throughput of concurrent callers (the explicit pipelines are measured per wire above).
        started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<1000 {
                group.addTask {
                    for _ in 0..<max(100 / scale, 1) {
                        _ = try await redis.send("SET", RedisArgument(keys.stats + ":c\(task % 100)"), "v")
                    }
                }
            }
            try await group.waitForAll()
        }
        let concurrent = Double(1000 * max(100 / scale, 1)) / (ContinuousClock.now - started).seconds
        progress(String(format: "micro: 1,000 concurrent callers %.0f k commands/s", concurrent / 1000))

        // 5. 10,000 tasks waiting on one refresh held by another worker, and a baseline of 10,000 tasks suspended on
        // bare continuations: the difference is what the library adds per waiting task. Each runs in a fresh
        // process, so neither reuses heap pages the other (or the steps above) freed.
        let waiters = String(10_000 / scale)
        let waiting = try await Self.inChildProcess(["--tasks", waiters], redisURL: redisURL)
        let baseline = try await Self.inChildProcess(["--tasks", waiters, "--bare"], redisURL: redisURL)
        progress(
            String(
                format:
                    "micro: %d waiting tasks: RSS +%.1f MB (bare tasks +%.1f MB), %d Redis commands while waiting, all resolved in %.0f ms",
                waiting.resolved,
                waiting.rssGrowthMB,
                baseline.rssGrowthMB,
                waiting.commands,
                waiting.resolvedMs
            )
        )
        await refresher.shutdown()
        var cleanup = RedisCommand(
            [RedisArgument("DEL")] + (keys.storedKeys + [keys.stats + ":probe"]).map { RedisArgument($0) }
        )
        for index in 0..<100 {
            cleanup.append(RedisArgument(keys.stats + ":p\(index)"))
            cleanup.append(RedisArgument(keys.stats + ":c\(index)"))
        }
        _ = try? await redis.send(cleanup)
        return MicroResults(
            credentialsReadsPerSecond: bestRate,
            getRoundTripP50Us: wires[0].getRoundTripP50Us,
            getRoundTripP99Us: wires[0].getRoundTripP99Us,
            lockAcquireReleaseUs: pairUs,
            pipelinedCommandsPerSecond: wires[0].pipelinedCommandsPerSecond,
            concurrentCommandsPerSecond: concurrent,
            waitingTasks: waiting.resolved,
            waitingRSSGrowthMB: waiting.rssGrowthMB,
            waitingBaselineRSSGrowthMB: baseline.rssGrowthMB,
            waitingRedisCommands: waiting.commands,
            waitingResolvedMs: waiting.resolvedMs,
            wires: wires
        )
    }

    /// `GET` round trips one at a time, then `pipeline(_:)` batches of 1,000 `SET`s, on `redis`.
    private func measureWire(_ redis: RedisConnection, name: String, keys: SessionKeys) async throws -> WireResult {
        try await redis.send("SET", RedisArgument(keys.stats + ":probe"), "x")
        var roundTrips = Histogram<UInt64>.latencies()
        for _ in 0..<(10_000 / scale) {
            let started = ContinuousClock.now
            _ = try await redis.send("GET", RedisArgument(keys.stats + ":probe"))
            roundTrips.record(ContinuousClock.now - started)
        }
        let batch = (0..<1000).map { RedisCommand("SET", RedisArgument(keys.stats + ":p\($0 % 100)"), "v") }
        let started = ContinuousClock.now
        let batches = max(200 / scale, 1)
        for _ in 0..<batches { _ = try await redis.pipeline(batch) }
        let pipelined = Double(batches * 1000) / (ContinuousClock.now - started).seconds
        return WireResult(
            wire: name,
            getRoundTripP50Us: (roundTrips.milliseconds(atPercentile: 50) ?? 0) * 1000,
            getRoundTripP99Us: (roundTrips.milliseconds(atPercentile: 99) ?? 0) * 1000,
            pipelinedCommandsPerSecond: pipelined
        )
    }

    /// What one `_waiters` child process measured.
    struct WaitingResult: Codable, Sendable {
        var rssGrowthMB: Double
        var commands = 0
        var resolved = 0
        var resolvedMs = 0.0
    }

    /// Runs `refresher _waiters <arguments>` and decodes its result line.
    static func inChildProcess(_ arguments: [String], redisURL: String) async throws -> WaitingResult {
        // The URL (maybe with a password) goes through the environment: argv is visible to `ps`.
        let completed: ChildProcess.Completed
        do {
            completed = try await ChildProcess.run(
                .refresher(["_waiters"] + arguments, environment: [RedisURL.variable: redisURL]),
                timeout: .seconds(120)
            )
        } catch {
            throw CLIError("the waiting-tasks measurement did not finish: \(error)")
        }
        guard let line = completed.standardOutput.last,
            let result = try? JSONDecoder().decode(WaitingResult.self, from: Data(line.utf8))
        else { throw CLIError("the waiting-tasks measurement printed no result") }
        return result
    }

    /// In a fresh process: `tasks` tasks wait on one refresh that another worker holds; returns the RSS growth,
    /// the client commands sent while they waited (through two poll intervals), and how fast they all resolved
    /// once the outcome was published.
    static func measureWaiting(redisURL: String, tasks waiting: Int) async throws -> WaitingResult {
        let redis = try RedisConnection(url: redisURL)
        defer { redis.close() }
        let session = "bench-waiters-\(UInt32.random(in: .min ... .max))"
        let keys = SessionKeys(session: try SessionName(session))
        let refresher = try await RedisRefresher(configuration: .init(redisURL: redisURL, session: session)) { _ in
            RefreshedTokens(accessToken: "never", refreshToken: "never", expiresIn: .seconds(60))
        }
        let (seeded, _) = try await refresher.seedSession(
            RefreshedTokens(accessToken: "waiters-access", refreshToken: "waiters-refresh", expiresIn: .seconds(3600))
        )
        try await redis.send("SET", RedisArgument(keys.lock), "other-worker:1:0", "PX", "60000")
        let monitor = try RedisMonitor(configuration: RedisConfiguration(url: redisURL))
        try await monitor.start()
        let counting = Task { await ClientCommandCount.collect(monitor.lines) }
        let rssBefore = residentMegabytes()
        let joined = Counter()
        let resolved = Counter()
        let group = Task {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<waiting {
                    group.addTask {
                        joined.increment()
                        if (try? await refresher.refreshAccessTokenOrReLogin(after: seeded, timeout: .seconds(60)))
                            != nil
                        {
                            resolved.increment()
                        }
                    }
                }
            }
        }
        while joined.value < waiting { try await Task.sleep(for: .milliseconds(5)) }
        // Wait through two poll intervals so the per-process polling is part of what is counted.
        try await Task.sleep(for: .milliseconds(2100))
        let rssAfter = residentMegabytes()
        monitor.close()
        let commands = await counting.value.total
        // The "other worker" stores generation + 1 and publishes, as a real holder's commit would.
        let started = ContinuousClock.now
        _ = try await redis.pipeline([
            RedisCommand("HSET", RedisArgument(keys.sessionHash), "generation", RedisArgument(seeded.generation + 1)),
            RedisCommand("DEL", RedisArgument(keys.lock)),
            RedisCommand(
                "PUBLISH",
                RedisArgument(keys.events),
                RedisArgument("refreshed generation=\(seeded.generation + 1) by=other-worker:1:0 duration_ms=0")
            ),
        ])
        await group.value
        let resolvedMs = (ContinuousClock.now - started).seconds * 1000
        await refresher.shutdown()
        await redis.deleteStoredKeys(of: keys)
        return WaitingResult(
            rssGrowthMB: rssAfter - rssBefore,
            commands: commands,
            resolved: resolved.value,
            resolvedMs: resolvedMs
        )
    }

    /// RSS growth of `tasks` child tasks suspended on bare continuations.
    static func baselineGrowth(tasks: Int) async throws -> Double {
        let parked = ParkedContinuations()
        let before = residentMegabytes()
        let group = Task {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<tasks {
                    group.addTask { await withCheckedContinuation { parked.add($0) } }
                }
            }
        }
        while parked.count < tasks { try await Task.sleep(for: .milliseconds(5)) }
        let after = residentMegabytes()
        parked.resumeAll()
        await group.value
        return after - before
    }

    /// Resident set size from /proc/self/status, in MB.
    static func residentMegabytes() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return 0 }
        let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "") ?? 0
        return kilobytes / 1024
    }
}

extension Duration {
    var seconds: Double {
        let (whole, attoseconds) = components
        return Double(whole) + Double(attoseconds) / 1e18
    }
}

/// A counter shared by tasks.
final class Counter: Sendable {
    private let atomic = Atomic<Int>(0)
    func increment() { atomic.add(1, ordering: .relaxed) }
    var value: Int { atomic.load(ordering: .relaxed) }
}

/// Continuations parked by the baseline measurement.
final class ParkedContinuations: Sendable {
    private let list = Mutex<[CheckedContinuation<Void, Never>]>([])
    func add(_ continuation: CheckedContinuation<Void, Never>) { list.withLock { $0.append(continuation) } }
    var count: Int { list.withLock { $0.count } }
    func resumeAll() {
        for continuation in list.withLock({ list in
            defer { list = [] }
            return list
        }) { continuation.resume() }
    }
}
