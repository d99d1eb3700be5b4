import DemoIdentityProvider
import Foundation
import RedisTopology

/// The cluster demo's failover and slot move of the first session's slot, each at its time into the run.
enum DemoClusterEvents {
    /// How long each step (the failover, the move, the restart of a killed primary) may take.
    static let stepTimeout: Duration = .seconds(30)

    /// One planned event: what, and at what Unix time.
    struct Plan: Sendable {
        var kind: ClusterEventRecord.Kind
        var at: Double
    }

    /// Runs `plans` in the order of their times on `topology`, each waiting for its time (or starting at once when
    /// the one before ran past it); `stats` gives the identity providers' counters, `announce` a line when each
    /// begins and ends.
    static func run(
        _ plans: [Plan],
        on topology: ClusterTopology,
        slot: Int,
        stats: @escaping @Sendable () -> DemoIdentityProvider.Stats,
        announce: @escaping @Sendable (String) -> Void
    ) async -> [ClusterEventRecord] {
        var records: [ClusterEventRecord] = []
        for plan in plans.sorted(by: { $0.at < $1.at }) {
            try? await sleep(untilUnix: plan.at)
            records.append(await run(plan.kind, on: topology, slot: slot, stats: stats, announce: announce))
        }
        return records
    }

    private static func run(
        _ kind: ClusterEventRecord.Kind,
        on topology: ClusterTopology,
        slot: Int,
        stats: @Sendable () -> DemoIdentityProvider.Stats,
        announce: @Sendable (String) -> Void
    ) async -> ClusterEventRecord {
        var record = ClusterEventRecord(kind: kind, slot: slot, startedAt: unixSeconds(), statsAtStart: stats())
        do {
            let from = try await topology.primaryPort(forSlot: slot)
            record.fromPort = from
            switch kind {
            case .failover:
                announce("failover: CLUSTER FAILOVER of the shard of slot \(slot), primary on port \(from)")
                record.startedAt = unixSeconds()
                record.statsAtStart = stats()
                record.toPort = try await topology.failover(shardOf: from, timeout: stepTimeout)
            case .kill:
                announce("failover: killed the primary of slot \(slot) on port \(from) (kill -9)")
                record.startedAt = unixSeconds()
                record.statsAtStart = stats()
                try await topology.crashPrimary(port: from)
                record.toPort = try await topology.waitForNewPrimary(replacing: from, timeout: stepTimeout)
            case .migration:
                guard let target = try await topology.primaryPorts.first(where: { $0 != from }) else {
                    throw CLIError("no other primary to move slot \(slot) to")
                }
                announce("slot move: slot \(slot) from port \(from) to port \(target)")
                record.startedAt = unixSeconds()
                record.statsAtStart = stats()
                try await topology.migrate(slot: slot, to: target, timeout: stepTimeout)
                record.toPort = target
            }
            record.finishedAt = unixSeconds()
            record.statsAtFinish = stats()
            let seconds = String(format: "%.2f", unixSeconds() - record.startedAt)
            announce(
                "\(kind == .migration ? "slot move" : "failover"): slot \(slot) served by port "
                    + "\(record.toPort ?? 0) (was \(from)) after \(seconds) s"
            )
            if kind == .kill {
                // As a supervisor would: the old primary comes back as a replica of the new one.
                try await topology.restart(port: from, timeout: stepTimeout)
                announce("failover: restarted the old primary on port \(from), now a replica")
            }
        } catch {
            record.failure = "\(error)"
            announce("\(kind == .migration ? "slot move" : "failover"): did not complete: \(error)")
        }
        return record
    }
}
