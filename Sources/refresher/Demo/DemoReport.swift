import DemoIdentityProvider
import Foundation
import Histogram
import RedisRefresher

/// The demo's summary table.
struct DemoReport: Encodable {
    let processes: Int
    let tasks: Int
    let duration: Double
    let tokenTTL: Double
    let coordination: Coordination
    let idp: DemoIdentityProvider.Stats
    let workers: [WorkerSummary]
    let workersReporting: Int
    let redisCommands: Int
    let fleetStats: [String: Int64]

    var wakeP50: Int64 { wakeMilliseconds(atPercentile: 50) }
    var wakeP99: Int64 { wakeMilliseconds(atPercentile: 99) }
    var passed: Bool { !idp.revoked && idp.reuseEvents == 0 && workersReporting == processes }

    private func wakeMilliseconds(atPercentile percentile: Double) -> Int64 {
        var wakeups = Histogram<UInt64>.latencies()
        for milliseconds in workers.flatMap(\.wakeMilliseconds) { wakeups.record(milliseconds: Double(milliseconds)) }
        return Int64((wakeups.milliseconds(atPercentile: percentile) ?? 0).rounded())
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
                    + (coordination == .redis
                        ? (expiriesMatch ? "  (= expiries)" : "  (expiries: \(idp.expiries))") : "")
            ),
            (
                "refresh-token reuse",
                "\(idp.reuseEvents)" + (idp.reuseEvents == 0 ? "  (must be 0)" : "  REUSE DETECTED")
            ),
            ("fleet logged out", idp.revoked ? "YES: the identity provider revoked the session" : "no"),
            ("wake-up latency p50/p99", coordination == .redis ? "\(wakeP50) / \(wakeP99) ms" : "n/a"),
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
                : "\nresult: FAIL — the fleet was logged out"
        )
    }
}
