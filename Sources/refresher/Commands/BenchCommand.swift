import ArgumentParser
import Foundation
import Histogram
import RedisRefresher

/// `refresher bench`: storms of real worker processes in three modes side by side, and micro-benchmarks; or, with
/// `--sessions` / `--idle-sessions`, the cost of thousands of sessions.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure 401 storms (pubsub vs poll vs none) and the library's fast paths.",
        discussion: """
            With --sessions N and/or --idle-sessions N, bench measures thousands of sessions instead (and nothing \
            else): N sessions whose tokens expire in the same second, served by --processes worker processes that \
            each share one set of Redis connections between a refresher per session and have callers for every \
            session; and N idle sessions in one process over --idle-window-s seconds (memory and Redis commands per \
            session). Any Redis URL works; commands are counted with INFO commandstats on every node.
            """
    )

    @OptionGroup var redis: RedisOptions<EmbeddedRedisServer>
    @Flag(help: "Always start an embedded throwaway redis-server, even if a URL is given.") var embeddedRedis = false
    @Option(
        help: ArgumentHelp(
            "A rediss:// URL of the same server, for the plain-vs-TLS micro-benchmarks with a given server (an "
                + "embedded server serves TLS on a second port with a certificate made by openssl).",
            valueName: "url"
        )
    )
    var tlsRedisURL: String?
    @Option(help: "Storms per configuration and mode.") var runs = 3
    @Option(help: "Grid points as PROCESSESxTASKS, comma-separated (default 8x16,32x4; --large adds 64x16).")
    var grid: String?
    @Flag(help: "Add the 64x16 grid point.") var large = false
    @Option(
        help: ArgumentHelp(
            "Modes, comma-separated: \(StormMode.allValueStrings.joined(separator: ", ")) (default: all).",
            valueName: "modes"
        ),
        transform: StormMode.list
    )
    var modes = StormMode.allCases
    @Option(help: "Refresh latency of the identity provider, in milliseconds.") var latencyMs = 200
    @Flag(help: "Skip the micro-benchmarks.") var skipMicro = false
    @Flag(help: "Only the micro-benchmarks.") var onlyMicro = false
    @Flag(help: "Print the results as JSON (progress goes to stderr).") var json = false
    @Flag(help: "Micro-benchmarks with 1/100 of the iterations: a smoke test, not a measurement.") var quick = false
    @Option(help: "Write the storms as pictures into this directory: wake-up-latency.svg and storm-timeline.svg.")
    var pictures: String?
    @Option(help: "Sessions storm: this many sessions whose tokens all expire in the same second (e.g. 1000).")
    var sessions: Int?
    @Option(help: "Sessions storm: worker processes, each serving every session.") var processes = 8
    @Option(help: "Sessions storm: callers per session in each process.") var sessionCallers = 1
    @Option(help: "Idle sessions: this many sessions with fresh tokens in one process (e.g. 10000).")
    var idleSessions: Int?
    @Option(help: "Idle sessions: how long to count Redis commands, in seconds.") var idleWindowS = 60.0

    /// Whether this run measures sessions (and nothing else).
    private var measuresSessions: Bool { sessions != nil || idleSessions != nil }

    func run() async throws {
        let points = try parseGrid()
        guard (1...100).contains(runs) else { throw CLIError("--runs must be 1...100") }
        try validateSessions()
        let given = embeddedRedis ? nil : redis.givenURL()
        let embedded: EmbeddedRedis? = given == nil ? try await Self.embeddedServer(progress: printError) : nil
        let url = try embedded?.url ?? redis.url()
        let tlsURL = try embedded.map { $0.tlsURL } ?? tlsRedisURL.map { try redis.completing($0) }
        defer { if let embedded { Task { await embedded.stop() } } }
        let cleanup = try ShutdownSignal.install { await embedded?.stop() }
        defer { cleanup.cancel() }
        let say: (String) -> Void = { line in json ? printError(line) : print(line) }

        var machine = await Machine.describe(redisURL: url)
        machine.redisSetup =
            embedded == nil
            ? "given server \(RedisConfiguration.redactingPassword(inURL: url))"
            : "embedded on loopback" + (embedded!.raisedPriority ? ", nice -10" : ", default priority")
        say("machine: \(machine.summary)")
        var storms: [StormResult] = []
        if !onlyMicro && !measuresSessions {
            let bench = StormBench(
                redisURL: url,
                refreshLatency: .milliseconds(latencyMs),
                executable: URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            )
            for (processes, tasks) in points {
                for run in 1...runs {
                    // Modes alternate within each run, so a noisy moment hits all of them alike.
                    for mode in modes {
                        let result = try await bench.run(processes: processes, tasks: tasks, mode: mode)
                        storms.append(result)
                        say(Self.progressLine(result, run: run, of: runs))
                    }
                }
            }
        }
        var micro: MicroResults?
        if !skipMicro && !measuresSessions {
            micro = try await MicroBench(redisURL: url, tlsURL: tlsURL, scale: quick ? 100 : 1).run(progress: say)
        }
        var sessionStorms: [SessionStormResult]?
        if let sessions {
            say("sessions storm: \(sessions) sessions x \(processes) processes x \(sessionCallers) caller(s) ...")
            let result = try await SessionStormBench(redisURL: url, refreshLatency: .milliseconds(latencyMs))
                .run(sessions: sessions, processes: processes, callers: sessionCallers)
            say(Self.progressLine(result))
            sessionStorms = [result]
        }
        var idle: IdleSessionsResult?
        if let idleSessions {
            say("idle sessions: \(idleSessions) sessions, \(idleWindowS) s window ...")
            let result = try await IdleSessionsBench(redisURL: url)
                .run(sessions: idleSessions, window: .milliseconds(Int64(idleWindowS * 1000)))
            say(Self.progressLine(result))
            idle = result
        }
        var report = BenchReport(machine: machine, latencyMs: latencyMs, runs: runs, storms: storms, micro: micro)
        report.sessionStorms = sessionStorms
        report.idleSessions = idle
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print("")
            print(report.markdown)
        }
        if let pictures {
            for path in try report.writePictures(to: pictures) { printError("wrote \(path)") }
        }
        if let embedded { await embedded.stop() }
        if !storms.allSatisfy(\.correct) || !(sessionStorms ?? []).allSatisfy(\.correct) { throw ExitCode(3) }
    }

    private func validateSessions() throws {
        if let sessions, !(1...100_000).contains(sessions) { throw CLIError("--sessions must be 1...100000") }
        if let idleSessions, !(1...1_000_000).contains(idleSessions) {
            throw CLIError("--idle-sessions must be 1...1000000")
        }
        guard (1...256).contains(processes) else { throw CLIError("--processes must be 1...256") }
        guard (1...100).contains(sessionCallers) else { throw CLIError("--session-callers must be 1...100") }
        guard idleWindowS > 0, idleWindowS <= 3600 else { throw CLIError("--idle-window-s must be in (0, 3600]") }
    }

    /// An embedded server with a TLS port beside the plaintext one; without TLS (and a note) when the certificate
    /// cannot be made, e.g. without `openssl`.
    private static func embeddedServer(progress: (String) -> Void) async throws -> EmbeddedRedis {
        do {
            return try await EmbeddedRedis(raisePriority: true, tls: true)
        } catch {
            progress("note: no TLS micro-benchmarks: \(error)")
            return try await EmbeddedRedis(raisePriority: true)
        }
    }

    private func parseGrid() throws -> [(Int, Int)] {
        var text = grid ?? "8x16,32x4"
        if large { text += ",64x16" }
        return try text.split(separator: ",").map { point in
            let parts = point.split(separator: "x")
            guard parts.count == 2, let p = Int(parts[0]), let t = Int(parts[1]), (1...256).contains(p),
                (1...10_000).contains(t)
            else { throw CLIError("bad grid point '\(point)': use PROCESSESxTASKS, e.g. 8x16") }
            return (p, t)
        }
    }

    static func progressLine(_ result: StormResult, run: Int, of runs: Int) -> String {
        func ms(_ value: Double?) -> String { value.map { String(format: "%.1f", $0) } ?? "-" }
        return String(
            format:
                "storm %3dx%-3d %-6@ run %d/%d: refreshes=%d reuse=%d ok=%d/%d woken=%d wake p50/p99/max=%@/%@/%@ ms storm=%@ ms cmds=%d (%.1f/process, max %d/connection)%@",
            result.processes,
            result.tasks,
            result.mode.rawValue,
            run,
            runs,
            result.refreshes,
            result.reuseEvents,
            result.tasksOK,
            result.tasksTotal,
            result.wokenTasks,
            ms(result.wakeP50Ms),
            ms(result.wakeP99Ms),
            ms(result.wakeMaxMs),
            ms(result.stormMs),
            result.redisCommands,
            result.redisCommandsPerProcess,
            result.maxCommandsPerConnection,
            result.barrierHeld ? "" : " (barrier missed)"
        )
    }
}

/// What the benchmark ran on.
struct Machine: Codable, Sendable {
    var cpus: Int
    var memoryGB: Double
    var cpuModel: String
    var redisVersion: String
    var os: String
    var redisSetup = ""

    var summary: String {
        "\(cpus) cores (\(cpuModel)), \(String(format: "%.0f", memoryGB)) GiB, \(os), redis \(redisVersion) (\(redisSetup))"
    }

    static func describe(redisURL: String) async -> Machine {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model =
            cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }?
            .split(separator: ":", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces) ?? "unknown"
        let os =
            ((try? String(contentsOfFile: "/etc/os-release", encoding: .utf8)) ?? "").split(separator: "\n")
            .first { $0.hasPrefix("PRETTY_NAME=") }?.dropFirst("PRETTY_NAME=".count).replacingOccurrences(
                of: "\"",
                with: ""
            )
            ?? "Linux"
        var version = "unknown"
        if let redis = try? RedisConnection(url: redisURL) {
            version = (try? await RedisInfo.fetch("server", from: redis))?["redis_version"] ?? version
            redis.close()
        }
        return Machine(
            cpus: ProcessInfo.processInfo.activeProcessorCount,
            memoryGB: Double(ProcessInfo.processInfo.physicalMemory) / 1_073_741_824,
            cpuModel: model,
            redisVersion: version,
            os: os
        )
    }
}

/// All results, with a Markdown rendering for BENCHMARKS.md.
struct BenchReport: Codable, Sendable {
    var machine: Machine
    var latencyMs: Int
    var runs: Int
    var storms: [StormResult]
    var micro: MicroResults?
    /// `--sessions`: the sessions storm.
    var sessionStorms: [SessionStormResult]?
    /// `--idle-sessions`: the idle sessions.
    var idleSessions: IdleSessionsResult?

    var markdown: String {
        var lines: [String] = []
        lines.append(
            "Machine: \(machine.summary). Identity-provider refresh latency \(latencyMs) ms"
                + (storms.isEmpty ? "." : "; \(runs) storm(s) per cell.")
        )
        if !storms.isEmpty {
            lines.append("")
            lines.append(
                "| P×T | mode | refreshes (per run) | reuse | tasks ok | wake p50 | wake p99 | wake max | storm | Redis cmds / process |"
            )
            lines.append("|---|---|---|---|---|---|---|---|---|---|")
            var seen: [String] = []
            for result in storms {
                let key = "\(result.processes)x\(result.tasks) \(result.mode.rawValue)"
                guard !seen.contains(key) else { continue }
                seen.append(key)
                let cell = storms.filter {
                    $0.processes == result.processes && $0.tasks == result.tasks && $0.mode == result.mode
                }
                // The wake-ups of all runs together; the storm and the commands of the median run.
                var wakeups = Histogram<UInt64>.latencies()
                var storms = Histogram<UInt64>.latencies()
                var commands = Histogram<UInt64>(
                    highestTrackableValue: 100_000_000,
                    numberOfSignificantValueDigits: .three
                )
                for run in cell {
                    wakeups.add(run.wakeups)
                    if let stormMs = run.stormMs { storms.record(milliseconds: stormMs) }
                    _ = commands.record(UInt64(run.redisCommands))
                }
                func ms(_ value: Double?) -> String { value.map { String(format: "%.1f ms", $0) } ?? "–" }
                let refreshes = cell.map { String($0.refreshes) }.joined(separator: ", ")
                let reuse = cell.map(\.reuseEvents).reduce(0, +)
                let ok = cell.map(\.tasksOK).reduce(0, +)
                let total = cell.map(\.tasksTotal).reduce(0, +)
                let perProcess = Double(commands.valueAtPercentile(50)) / Double(result.processes)
                lines.append(
                    "| \(result.processes)×\(result.tasks) | \(result.mode.rawValue) | \(refreshes) | \(reuse) | \(ok)/\(total) | "
                        + "\(ms(wakeups.milliseconds(atPercentile: 50))) | \(ms(wakeups.milliseconds(atPercentile: 99))) | \(ms(wakeups.maxMilliseconds)) | "
                        + "\(ms(storms.milliseconds(atPercentile: 50))) | \(String(format: "%.1f", perProcess)) |"
                )
            }
            lines.append("")
            lines.append(
                "Wake-up: refresh stored → task in another process resumed. Storm: first 401 → last success. Wake-up percentiles: all runs' wake-ups together (HdrHistogram); storm and commands: the median run."
            )
        }
        if let micro {
            lines.append("")
            lines.append("| micro-benchmark | result |")
            lines.append("|---|---|")
            lines.append(
                String(
                    format: "| cached `credentials()`, one task | %.1f M reads/s |",
                    micro.credentialsReadsPerSecond / 1e6
                )
            )
            lines.append(
                String(
                    format: "| `GET` round trip (loopback) | p50 %.0f µs, p99 %.0f µs |",
                    micro.getRoundTripP50Us,
                    micro.getRoundTripP99Us
                )
            )
            lines.append(
                String(format: "| lock acquire + owner-checked release | %.0f µs |", micro.lockAcquireReleaseUs)
            )
            lines.append(
                String(
                    format: "| `pipeline(_:)` of 1,000 `SET`s | %.0f k commands/s |",
                    micro.pipelinedCommandsPerSecond / 1000
                )
            )
            lines.append(
                String(
                    format: "| 1,000 concurrent callers, one connection | %.0f k commands/s |",
                    micro.concurrentCommandsPerSecond / 1000
                )
            )
            lines.append(
                String(
                    format:
                        "| %d tasks waiting on one refresh | RSS +%.1f MB (the same number of bare suspended tasks: +%.1f MB); %d client commands to Redis in 2.1 s of waiting; all resolved %.0f ms after the outcome |",
                    micro.waitingTasks,
                    micro.waitingRSSGrowthMB,
                    micro.waitingBaselineRSSGrowthMB,
                    micro.waitingRedisCommands,
                    micro.waitingResolvedMs
                )
            )
            lines.append(contentsOf: Self.wireTable(micro.wires))
        }
        lines.append(contentsOf: sessionsMarkdown)
        return lines.joined(separator: "\n")
    }

    /// The round trip and throughput per wire, with the TLS / plain ratios when both were measured.
    static func wireTable(_ wires: [WireResult]) -> [String] {
        guard !wires.isEmpty else { return [] }
        var lines = [
            "", "| wire | `GET` round trip p50 | `GET` p99 | `pipeline(_:)` of 1,000 `SET`s |", "|---|---|---|---|",
        ]
        for wire in wires {
            lines.append(
                String(
                    format: "| %@ | %.0f µs | %.0f µs | %.0f k commands/s |",
                    wire.wire,
                    wire.getRoundTripP50Us,
                    wire.getRoundTripP99Us,
                    wire.pipelinedCommandsPerSecond / 1000
                )
            )
        }
        if let plain = wires.first(where: { $0.wire == "plain" }), let tls = wires.first(where: { $0.wire == "TLS" }),
            plain.getRoundTripP50Us > 0, plain.getRoundTripP99Us > 0, plain.pipelinedCommandsPerSecond > 0
        {
            lines.append(
                String(
                    format: "| TLS / plain | %.2f× | %.2f× | %.2f× |",
                    tls.getRoundTripP50Us / plain.getRoundTripP50Us,
                    tls.getRoundTripP99Us / plain.getRoundTripP99Us,
                    tls.pipelinedCommandsPerSecond / plain.pipelinedCommandsPerSecond
                )
            )
        }
        return lines
    }
}
