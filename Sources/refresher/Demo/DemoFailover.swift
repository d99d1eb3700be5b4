import DemoIdentityProvider
import Foundation
import RedisTopology

/// The demo's failover of its embedded Sentinel topology, triggered at a time into the run.
enum DemoFailover {
    /// How long each step (the failover, the wait for a new primary, the old primary's return) may take.
    static let stepTimeout: Duration = .seconds(30)

    /// Waits until Unix time `time`, fails `topology` over by `kind`, and returns what happened; `announce` gets a
    /// line when it begins, when the new primary is in place, when a killed or paused old primary is restarted or
    /// resumed, and when the sentinels have made the old primary a replica (the demo's workers wait for both
    /// replicas, so it must come back: a supervisor would restart a crashed node).
    static func run(
        _ kind: FailoverKind,
        on topology: SentinelTopology,
        at time: Double,
        provider: DemoIdentityProvider,
        announce: @escaping @Sendable (String) -> Void
    ) async -> FailoverRecord {
        try? await sleep(untilUnix: time)
        var record = FailoverRecord(kind: kind, startedAt: unixSeconds(), statsAtStart: provider.stats)
        do {
            switch kind {
            case .forced:
                let old = try await topology.primaryPort()
                record.oldPrimaryPort = old
                announce("failover: SENTINEL FAILOVER, primary on port \(old)")
                record.startedAt = unixSeconds()
                record.statsAtStart = provider.stats
                let failover = try await topology.failover(timeout: stepTimeout)
                record.newPrimaryPort = failover.newPrimaryPort
                record.newPrimaryAt = unixSeconds()
                record.secondsToNewPrimary = failover.elapsed.seconds
            case .kill:
                let old = try await topology.crashPrimary()
                record.oldPrimaryPort = old
                announce("failover: killed the primary on port \(old) (kill -9)")
                try await awaitNewPrimary(after: old, on: topology, record: &record)
            case .pause:
                let old = try await topology.pausePrimary()
                record.oldPrimaryPort = old
                announce("failover: paused the primary on port \(old) (SIGSTOP)")
                do {
                    try await awaitNewPrimary(after: old, on: topology, record: &record)
                } catch {
                    // Never leave it stopped.
                    topology.node(port: old)?.resume()
                    throw error
                }
            }
            record.statsAtNewPrimary = provider.stats
            guard let old = record.oldPrimaryPort, let new = record.newPrimaryPort else { return record }
            if let elapsed = record.secondsToNewPrimary {
                announce(String(format: "failover: new primary on port %d (was %d) after %.2f s", new, old, elapsed))
            }
            switch kind {
            case .forced:
                break
            case .kill:
                try await topology.restartNode(port: old, timeout: stepTimeout)
                announce("failover: restarted the old primary on port \(old)")
            case .pause:
                topology.node(port: old)?.resume()
                announce("failover: resumed the old primary on port \(old) (SIGCONT)")
            }
            // Until the sentinels have demoted it, the new primary has one replica, and refreshes wait for two.
            try await topology.waitUntilReady(timeout: stepTimeout)
            record.oldPrimaryReplicaAt = unixSeconds()
            announce("failover: the sentinels made the old primary on port \(old) a replica of \(new)")
        } catch {
            record.failure = "\(error)"
            announce("failover: did not complete: \(error)")
        }
        return record
    }

    private static func awaitNewPrimary(
        after old: Int,
        on topology: SentinelTopology,
        record: inout FailoverRecord
    ) async throws {
        let new = try await topology.waitForNewPrimary(notOn: old, timeout: stepTimeout)
        record.newPrimaryPort = new
        record.newPrimaryAt = unixSeconds()
        record.secondsToNewPrimary = unixSeconds() - record.startedAt
    }
}
