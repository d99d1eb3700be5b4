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
        stats: @escaping @Sendable () -> DemoIdentityProvider.Stats,
        announce: @escaping @Sendable (String) -> Void
    ) async -> ClusterEventRecord {
        var record = ClusterEventRecord(kind: kind, slot: slot, startedAt: unixSeconds(), statsAtStart: stats())
        let name = kind == .migration ? "slot move" : "failover"
        let from: Int
        let target: Int?
        switch await plan(kind, slot: slot, on: topology) {
        case .success(let ports): (from, target) = ports
        case .failure(let error):
            record.failure = "\(error)"
            announce("\(name): did not complete: \(error)")
            return record
        }
        record.fromPort = from
        switch kind {
        case .failover: announce("failover: CLUSTER FAILOVER of the shard of slot \(slot), primary on port \(from)")
        case .kill: announce("failover: killed the primary of slot \(slot) on port \(from) (kill -9)")
        case .migration: announce("slot move: slot \(slot) from port \(from) to port \(target ?? 0)")
        }
        record.startedAt = unixSeconds()
        record.statsAtStart = stats()
        switch await perform(kind, slot: slot, from: from, target: target, on: topology) {
        case .success(let port): record.toPort = port
        case .failure(let error):
            record.failure = "\(error)"
            announce("\(name): did not complete: \(error)")
            return record
        }
        record.finishedAt = unixSeconds()
        record.statsAtFinish = stats()
        let seconds = String(format: "%.2f", unixSeconds() - record.startedAt)
        announce("\(name): slot \(slot) served by port \(record.toPort ?? 0) (was \(from)) after \(seconds) s")
        if kind == .kill {
            // As a supervisor would: the old primary comes back as a replica of the new one.
            do {
                try await topology.restart(port: from, timeout: stepTimeout)
                announce("failover: restarted the old primary on port \(from), now a replica")
            } catch {
                announce("failover: the old primary on port \(from) did not come back: \(error)")
            }
        }
        return record
    }

    /// The primary of `slot`, and for a slot move the primary to move it to.
    private static func plan(
        _ kind: ClusterEventRecord.Kind,
        slot: Int,
        on topology: ClusterTopology
    ) async -> Result<(from: Int, target: Int?), TopologyError> {
        do {
            let from = try await topology.primaryPort(forSlot: slot)
            guard kind == .migration else { return .success((from, nil)) }
            guard let target = try await topology.primaryPorts.first(where: { $0 != from }) else {
                return .failure(TopologyError("no other primary to move slot \(slot) to"))
            }
            return .success((from, target))
        } catch {
            return .failure(error)
        }
    }

    /// Carries out the event; returns the port that serves the slot afterwards.
    private static func perform(
        _ kind: ClusterEventRecord.Kind,
        slot: Int,
        from: Int,
        target: Int?,
        on topology: ClusterTopology
    ) async -> Result<Int, TopologyError> {
        do {
            switch kind {
            case .failover:
                return .success(try await topology.failover(shardOf: from, timeout: stepTimeout))
            case .kill:
                try await topology.crashPrimary(port: from)
                return .success(try await topology.waitForNewPrimary(replacing: from, timeout: stepTimeout))
            case .migration:
                let target = target ?? from
                try await topology.migrate(slot: slot, to: target, timeout: stepTimeout)
                return .success(target)
            }
        } catch {
            return .failure(error)
        }
    }
}
