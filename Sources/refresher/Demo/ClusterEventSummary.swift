import DemoIdentityProvider
import Foundation

/// What the fleet saw around one of the cluster demo's failovers or slot moves: the requests served and the errors
/// while it ran (from its beginning until every node reported the slot's new primary) and after.
struct ClusterEventSummary: Encodable {
    let kind: ClusterEventRecord.Kind
    let slot: Int
    /// When it began, in seconds since the fleet's start.
    let atSeconds: Double
    /// From its beginning until every node reported the new primary.
    let seconds: Double?
    let fromPort: Int?
    let toPort: Int?
    let requestsServedDuring: Int
    let requestsServedAfter: Int
    /// Errors the workers' requests failed with, by kind (see ``WorkerSummary/errorKind(_:)``).
    let errorsDuring: [String: Int]
    let errorsAfter: [String: Int]
    /// Expiries and refreshes of every session since it began.
    let tokenExpiriesSince: Int
    let refreshesSince: Int
    /// Why it did not complete; absent when it did.
    let failure: String?

    init(
        _ record: ClusterEventRecord,
        fleetStart: Double,
        final: DemoIdentityProvider.Stats,
        workers: [WorkerSummary]
    ) {
        kind = record.kind
        slot = record.slot
        atSeconds = ((record.startedAt - fleetStart) * 10).rounded() / 10
        seconds = record.finishedAt.map { (($0 - record.startedAt) * 100).rounded() / 100 }
        fromPort = record.fromPort
        toPort = record.toPort
        let atFinish = record.statsAtFinish ?? final
        requestsServedDuring = atFinish.resourceOK - record.statsAtStart.resourceOK
        requestsServedAfter = final.resourceOK - atFinish.resourceOK
        let end = record.finishedAt ?? .infinity
        var during: [String: Int] = [:]
        var after: [String: Int] = [:]
        for event in workers.flatMap(\.errorLog) where event.t >= record.startedAt {
            if event.t <= end {
                during[event.kind, default: 0] += 1
            } else {
                after[event.kind, default: 0] += 1
            }
        }
        errorsDuring = during
        errorsAfter = after
        tokenExpiriesSince = final.expiries - record.statsAtStart.expiries
        refreshesSince = final.refreshes - record.statsAtStart.refreshes
        failure = record.failure
    }

    /// Whether it completed: another primary serves the slot.
    var completed: Bool { failure == nil && toPort != nil && toPort != fromPort }

    enum CodingKeys: String, CodingKey {
        case kind, slot, atSeconds, seconds, fromPort, toPort, requestsServedDuring, requestsServedAfter
        case errorsDuring, errorsAfter, tokenExpiriesSince, refreshesSince, failure, completed
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(kind, forKey: .kind)
        try container.encode(slot, forKey: .slot)
        try container.encode(atSeconds, forKey: .atSeconds)
        try container.encodeIfPresent(seconds, forKey: .seconds)
        try container.encodeIfPresent(fromPort, forKey: .fromPort)
        try container.encodeIfPresent(toPort, forKey: .toPort)
        try container.encode(requestsServedDuring, forKey: .requestsServedDuring)
        try container.encode(requestsServedAfter, forKey: .requestsServedAfter)
        try container.encode(errorsDuring, forKey: .errorsDuring)
        try container.encode(errorsAfter, forKey: .errorsAfter)
        try container.encode(tokenExpiriesSince, forKey: .tokenExpiriesSince)
        try container.encode(refreshesSince, forKey: .refreshesSince)
        try container.encodeIfPresent(failure, forKey: .failure)
        try container.encode(completed, forKey: .completed)
    }

    /// The table rows of the demo's summary.
    var rows: [(String, String)] {
        var rows: [(String, String)] = [
            (kind == .migration ? "slot move" : "failover", "slot \(slot): \(kind.action)"),
            ("  began", String(format: "t=%.1f s into the run", atSeconds)),
        ]
        if let from = fromPort, let to = toPort, let seconds {
            rows.append(("  new primary", String(format: "port %d → %d, %.2f s later", from, to, seconds)))
        }
        if let failure { rows.append(("  did not complete", failure)) }
        rows.append(("  requests served", "\(requestsServedDuring) during, \(requestsServedAfter) after"))
        rows.append(("  errors during", Self.line(errorsDuring)))
        rows.append(("  errors after", Self.line(errorsAfter)))
        rows.append(("  since it began", "expiries \(tokenExpiriesSince), refreshes \(refreshesSince)"))
        return rows
    }

    /// `none`, or `kind n, kind m` by count.
    private static func line(_ errors: [String: Int]) -> String {
        guard !errors.isEmpty else { return "none" }
        return errors.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { "\($0.key) \($0.value)" }
            .joined(separator: ", ")
    }
}
