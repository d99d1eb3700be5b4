import DemoIdentityProvider
import Foundation
import Histogram
import RedisRefresher

/// The demo's summary table; with `--topology sentinel`, also the failover and the longest stall; with
/// `--topology cluster`, also each session, the failovers and slot moves, and the longest stall.
struct DemoReport: Encodable {
    let processes: Int
    let tasks: Int
    let duration: Double
    let tokenTTL: Double
    let coordination: Coordination
    let idp: DemoIdentityProvider.Stats
    let workers: [WorkerSummary]
    let workersReporting: Int
    /// The commands the fleet sent, counted on the primary; `nil` when the primary changed during the run.
    let redisCommands: Int?
    let fleetStats: [String: Int64]
    var topology = DemoTopology.single
    var failover: FailoverSummary?
    /// With a cluster: each session, and what the demo did to the cluster.
    var sessions: [ClusterSessionReport] = []
    var clusterEvents: [ClusterEventSummary] = []
    /// When the fleet started (Unix seconds), for the times of the longest stall.
    var fleetStart: Double = 0
    /// The pause between one task's requests, part of every stall.
    var requestIntervalMs = 100

    var wakeP50: Int64 { wakeMilliseconds(atPercentile: 50) }
    var wakeP99: Int64 { wakeMilliseconds(atPercentile: 99) }
    var passed: Bool {
        !idp.revoked && idp.reuseEvents == 0 && workersReporting == processes && failover?.completed != false
            && eventsCompleted
    }

    /// Whether every failover and slot move of the cluster completed.
    private var eventsCompleted: Bool { clusterEvents.allSatisfy(\.completed) }

    /// The worker summary with the longest time one task went without a served request.
    private var longestStall: WorkerSummary? { workers.max { $0.longestGapMs < $1.longestGapMs } }

    private func wakeMilliseconds(atPercentile percentile: Double) -> Int64 {
        var wakeups = Histogram<UInt64>.latencies()
        for milliseconds in workers.flatMap(\.wakeMilliseconds) { wakeups.record(milliseconds: Double(milliseconds)) }
        return Int64((wakeups.milliseconds(atPercentile: percentile) ?? 0).rounded())
    }

    enum CodingKeys: String, CodingKey {
        case processes, tasks, duration, tokenTTL, coordination, requestsServed, unauthorized, tokenExpiries
        case refreshes, reuseEvents, loggedOut, wakeP50Ms, wakeP99Ms, redisCommands, fleetStats, passed
        case topology, failover, longestStallMs, longestStallAtSeconds, sessions, clusterEvents
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
        try container.encodeIfPresent(redisCommands, forKey: .redisCommands)
        try container.encode(fleetStats, forKey: .fleetStats)
        try container.encode(passed, forKey: .passed)
        // Only with Sentinel or a cluster, so that the single-server report stays as it was.
        guard topology != .single else { return }
        try container.encode(topology, forKey: .topology)
        try container.encodeIfPresent(failover, forKey: .failover)
        if topology == .cluster {
            try container.encode(sessions, forKey: .sessions)
            try container.encode(clusterEvents, forKey: .clusterEvents)
        }
        if let stall = longestStall {
            try container.encode(stall.longestGapMs, forKey: .longestStallMs)
            try container.encode(stallSeconds(stall), forKey: .longestStallAtSeconds)
        }
    }

    /// When the longest stall began, in seconds since the fleet's start.
    private func stallSeconds(_ stall: WorkerSummary) -> Double {
        ((stall.longestGapStart - fleetStart) * 10).rounded() / 10
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
                    + (coordination == .redis
                        ? (expiriesMatch ? "  (= expiries)" : "  (expiries: \(idp.expiries))") : "")
            ),
            (
                "refresh-token reuse",
                "\(idp.reuseEvents)" + (idp.reuseEvents == 0 ? "  (must be 0)" : "  REUSE DETECTED")
            ),
            ("fleet logged out", idp.revoked ? "YES: the identity provider revoked the session" : "no"),
            ("wake-up latency p50/p99", coordination == .redis ? "\(wakeP50) / \(wakeP99) ms" : "n/a"),
            (
                "Redis commands used",
                redisCommands.map { "\($0)" }
                    ?? (topology == .cluster ? "n/a (several nodes)" : "n/a (the primary changed)")
            ),
            ("fleet waits / takeovers", "\(fleetStats["waits"] ?? 0) / \(fleetStats["takeovers"] ?? 0)"),
            ("workers reporting", "\(workersReporting) of \(processes)"),
        ]
        Swift.print("")
        Swift.print("summary")
        for (label, value) in rows + topologyRows {
            Swift.print("  " + label.padding(toLength: 26, withPad: " ", startingAt: 0) + value)
        }
        if !sessions.isEmpty {
            Swift.print("")
            Swift.print("sessions")
            for line in ClusterSessionReport.table(sessions) { Swift.print("  " + line) }
        }
        if passed {
            Swift.print(
                "\nresult: PASS — one refresh per expiry, nobody logged out"
                    + (sessions.count > 1 ? " (every session)" : "")
            )
        } else if failover?.completed == false, !idp.revoked, idp.reuseEvents == 0 {
            Swift.print("\nresult: FAIL — the failover did not complete")
        } else if !eventsCompleted, !idp.revoked, idp.reuseEvents == 0 {
            Swift.print("\nresult: FAIL — a failover or slot move of the cluster did not complete")
        } else {
            Swift.print("\nresult: FAIL — the fleet was logged out")
        }
    }

    /// The longest stall and the failover, with Sentinel; also the failovers and slot moves, with a cluster.
    private var topologyRows: [(String, String)] {
        guard topology != .single else { return [] }
        var rows: [(String, String)] = []
        if let stall = longestStall {
            rows.append(
                (
                    "longest stall",
                    String(
                        format:
                            "%lld ms between one task's served requests (from t=%.1f s; %d ms pause between requests)",
                        stall.longestGapMs,
                        stallSeconds(stall),
                        requestIntervalMs
                    )
                )
            )
        }
        return rows + (failover?.rows ?? []) + clusterEvents.flatMap(\.rows)
    }
}
