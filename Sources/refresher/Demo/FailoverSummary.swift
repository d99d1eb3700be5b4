import DemoIdentityProvider
import Foundation

/// What the fleet saw around the demo's failover, split at its beginning and at the moment the new primary was in
/// place: before, during, after.
struct FailoverSummary: Encodable {
    let kind: FailoverKind
    /// When it began, in seconds since the fleet's start.
    let atSeconds: Double
    let oldPrimaryPort: Int?
    let newPrimaryPort: Int?
    let secondsToNewPrimary: Double?
    /// When the sentinels had made the old primary a replica of the new one, in seconds since the fleet's start:
    /// from then on the new primary has both replicas, which the workers' locks and commits wait for.
    let oldPrimaryReplicaAtSeconds: Double?
    let requestsServedBefore: Int
    let requestsServedDuring: Int
    let requestsServedAfter: Int
    /// Errors the workers' requests failed with, by kind (see ``WorkerSummary/errorKind(_:)``).
    let errorsBefore: [String: Int]
    let errorsDuring: [String: Int]
    let errorsAfter: [String: Int]
    /// Errors beyond the number a worker times (``WorkerSummary/errorLogLimit``): in none of the three.
    let errorsUntimed: Int
    /// Expiries and refreshes at the identity provider since the failover began.
    let tokenExpiriesSince: Int
    let refreshesSince: Int
    /// Why the failover did not complete; absent when it did.
    let failure: String?

    init(_ record: FailoverRecord, fleetStart: Double, final: DemoIdentityProvider.Stats, workers: [WorkerSummary]) {
        kind = record.kind
        atSeconds = ((record.startedAt - fleetStart) * 10).rounded() / 10
        oldPrimaryPort = record.oldPrimaryPort
        newPrimaryPort = record.newPrimaryPort
        secondsToNewPrimary = record.secondsToNewPrimary.map { ($0 * 100).rounded() / 100 }
        oldPrimaryReplicaAtSeconds = record.oldPrimaryReplicaAt.map { (($0 - fleetStart) * 10).rounded() / 10 }
        let atNewPrimary = record.statsAtNewPrimary ?? final
        requestsServedBefore = record.statsAtStart.resourceOK
        requestsServedDuring = atNewPrimary.resourceOK - record.statsAtStart.resourceOK
        requestsServedAfter = final.resourceOK - atNewPrimary.resourceOK
        let end = record.newPrimaryAt ?? .infinity
        var before: [String: Int] = [:]
        var during: [String: Int] = [:]
        var after: [String: Int] = [:]
        for event in workers.flatMap(\.errorLog) {
            if event.t < record.startedAt {
                before[event.kind, default: 0] += 1
            } else if event.t <= end {
                during[event.kind, default: 0] += 1
            } else {
                after[event.kind, default: 0] += 1
            }
        }
        errorsBefore = before
        errorsDuring = during
        errorsAfter = after
        errorsUntimed = workers.reduce(0) { $0 + max(0, $1.errors - $1.errorLog.count) }
        tokenExpiriesSince = final.expiries - record.statsAtStart.expiries
        refreshesSince = final.refreshes - record.statsAtStart.refreshes
        failure = record.failure
    }

    /// Whether the failover completed: a new primary, on another port.
    var completed: Bool { failure == nil && newPrimaryPort != nil && newPrimaryPort != oldPrimaryPort }

    /// The table rows of the demo's summary.
    var rows: [(String, String)] {
        var rows: [(String, String)] = [
            ("failover", "\(kind.rawValue) (\(kind.action))"),
            ("  began", String(format: "t=%.1f s into the run", atSeconds)),
        ]
        if let old = oldPrimaryPort, let new = newPrimaryPort, let seconds = secondsToNewPrimary {
            rows.append(("  new primary", String(format: "port %d → %d, %.2f s later", old, new, seconds)))
        }
        if let seconds = oldPrimaryReplicaAtSeconds {
            rows.append(("  old primary a replica", String(format: "t=%.1f s (both replicas back)", seconds)))
        }
        if let failure { rows.append(("  did not complete", failure)) }
        rows.append(
            (
                "  requests served",
                "\(requestsServedBefore) before, \(requestsServedDuring) during, \(requestsServedAfter) after"
            )
        )
        rows.append(("  errors before", Self.line(errorsBefore)))
        rows.append(("  errors during", Self.line(errorsDuring)))
        rows.append(("  errors after", Self.line(errorsAfter)))
        if errorsUntimed > 0 { rows.append(("  errors not timed", "\(errorsUntimed)")) }
        rows.append(
            (
                "  since it began",
                "expiries \(tokenExpiriesSince), refreshes \(refreshesSince)"
                    + (tokenExpiriesSince == 0 ? "  (no expiry after it: a longer --duration shows one)" : "")
            )
        )
        return rows
    }

    /// `none`, or `kind n, kind m` by count.
    private static func line(_ errors: [String: Int]) -> String {
        guard !errors.isEmpty else { return "none" }
        return errors.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { "\($0.key) \($0.value)" }
            .joined(separator: ", ")
    }
}
