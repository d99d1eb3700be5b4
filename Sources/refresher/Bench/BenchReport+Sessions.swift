import Foundation

extension BenchReport {
    /// The sessions storm and the idle sessions as Markdown tables (nothing when neither ran).
    var sessionsMarkdown: [String] {
        var lines: [String] = []
        func ms(_ value: Double?) -> String { value.map { String(format: "%.0f ms", $0) } ?? "–" }
        if let storms = sessionStorms, !storms.isEmpty {
            lines += [
                "",
                "| sessions × processes × callers | refreshes (sessions refreshed once) | reuse | callers served | first 401 → last served | all 401s within | per session: 401 → refresh stored p50 / p99 | per session: 401 → last served p50 / p99 / max | Redis cmds / session (EVALSHA) | RSS / session (loaded; after storm) |",
                "|---|---|---|---|---|---|---|---|---|---|",
            ]
            for storm in storms {
                let cells = [
                    "\(storm.sessions) × \(storm.processes) × \(storm.callersPerSession)",
                    "\(storm.refreshes) (\(storm.sessionsRefreshedOnce))",
                    "\(storm.reuseEvents)",
                    "\(storm.callersServed)/\(storm.callersTotal)",
                    ms(storm.stormMs),
                    ms(storm.unauthorizedSpreadMs),
                    "\(ms(storm.sessionRefreshP50Ms)) / \(ms(storm.sessionRefreshP99Ms))",
                    "\(ms(storm.sessionStormP50Ms)) / \(ms(storm.sessionStormP99Ms)) / \(ms(storm.sessionStormMaxMs))",
                    String(format: "%.1f (%.1f)", storm.redisCommandsPerSession, storm.scriptCallsPerSession),
                    String(
                        format: "%.1f KB; %.1f KB",
                        storm.residentKBPerSession,
                        storm.residentKBPerSessionAfterStorm
                    ),
                ]
                lines.append("| " + cells.joined(separator: " | ") + " |")
            }
            for storm in storms {
                lines.append("")
                lines.append(
                    "Storm commands (\(storm.nodes) node(s)): \(Self.breakdown(storm.commandBreakdown)). "
                        + String(
                            format: "Making the refreshers: %.1f commands per session and process (%@). ",
                            storm.setupCommandsPerSessionPerProcess,
                            Self.breakdown(storm.setupCommandBreakdown)
                        )
                        + String(
                            format:
                                "CPU per session during the storm: Redis %.2f ms, workers %.2f ms, identity provider (the benchmark's process) %.2f ms. Making and subscribing every session took %.1f s; base RSS per process %.1f MB; whole run %.1f s%@.",
                            storm.redisCPUMsPerSession,
                            storm.workerCPUMsPerSession,
                            storm.driverCPUMsPerSession,
                            storm.setupSeconds,
                            storm.baseResidentMB,
                            storm.runSeconds,
                            storm.barrierHeld ? "" : " (barrier missed: a process was still loading at the instant)"
                        )
                )
                if !storm.errors.isEmpty { lines.append("Caller errors: \(Self.breakdown(storm.errors)).") }
            }
        }
        if let idle = idleSessions {
            lines += [
                "",
                "| idle sessions (one process) | window | RSS / session | Redis cmds / session / min | Redis cmds / min (process) | commands in the window | reads from memory |",
                "|---|---|---|---|---|---|---|",
                "| \(idle.sessions) | \(String(format: "%.0f s", idle.windowSeconds)) | "
                    + String(format: "%.1f KB", idle.residentKBPerSession) + " | "
                    + String(format: "%.4f", idle.redisCommandsPerSessionPerMinute) + " | "
                    + String(format: "%.1f", idle.redisCommandsPerMinute) + " | "
                    + "\(idle.redisCommands == 0 ? "none" : Self.breakdown(idle.commandBreakdown)) | \(idle.reads) |",
                "",
                String(
                    format:
                        "CPU during the window: Redis %.0f ms per minute, the worker %.0f ms per minute (reading every session once a second). Making %d refreshers: %.1f commands per session (%@); %.1f s to make them, %.1f s until all listened, %.1f s until all were loaded; base RSS %.1f MB.",
                    idle.redisCPUMsPerMinute,
                    idle.workerCPUMsPerMinute,
                    idle.sessions,
                    idle.setupCommandsPerSession,
                    Self.breakdown(idle.setupCommandBreakdown),
                    idle.makeSeconds,
                    idle.listeningSeconds,
                    idle.setupSeconds,
                    idle.baseResidentMB
                ),
            ]
        }
        return lines
    }

    /// `evalsha 8000, hgetall 2000, …`: the commands by count, most first.
    static func breakdown(_ counts: [String: Int], limit: Int = 8) -> String {
        let sorted = counts.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }
        let shown = sorted.prefix(limit).map { "\($0.key) \($0.value)" }
        let rest = sorted.dropFirst(limit).map(\.value).reduce(0, +)
        return (shown + (rest > 0 ? ["others \(rest)"] : [])).joined(separator: ", ")
    }
}

extension BenchCommand {
    static func progressLine(_ result: SessionStormResult) -> String {
        func ms(_ value: Double?) -> String { value.map { String(format: "%.0f", $0) } ?? "-" }
        return String(
            format:
                "sessions storm %dx%dx%d: refreshes=%d once=%d reuse=%d served=%d/%d storm=%@ ms 401s-within=%@ ms per-session stored p50/p99=%@/%@ ms served p50/p99/max=%@/%@/%@ ms cmds/session=%.1f rss/session=%.1f KB setup=%.1f s run=%.1f s%@",
            result.sessions,
            result.processes,
            result.callersPerSession,
            result.refreshes,
            result.sessionsRefreshedOnce,
            result.reuseEvents,
            result.callersServed,
            result.callersTotal,
            ms(result.stormMs),
            ms(result.unauthorizedSpreadMs),
            ms(result.sessionRefreshP50Ms),
            ms(result.sessionRefreshP99Ms),
            ms(result.sessionStormP50Ms),
            ms(result.sessionStormP99Ms),
            ms(result.sessionStormMaxMs),
            result.redisCommandsPerSession,
            result.residentKBPerSession,
            result.setupSeconds,
            result.runSeconds,
            result.barrierHeld ? "" : " (barrier missed)"
        )
    }

    static func progressLine(_ result: IdleSessionsResult) -> String {
        String(
            format:
                "idle sessions %d: rss/session=%.1f KB cmds/session/min=%.4f (%d in %.0f s: %@) reads=%d setup=%.1f s",
            result.sessions,
            result.residentKBPerSession,
            result.redisCommandsPerSessionPerMinute,
            result.redisCommands,
            result.windowSeconds,
            result.redisCommands == 0 ? "none" : BenchReport.breakdown(result.commandBreakdown),
            result.reads,
            result.setupSeconds
        )
    }
}
