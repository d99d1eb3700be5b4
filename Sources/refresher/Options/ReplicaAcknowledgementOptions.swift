import ArgumentParser
import Foundation
import RedisRefresher

/// How many replicas must acknowledge a worker's lock and new session (`WAIT`), and for how long it waits:
/// `--replica-acks N` (or `REPLICA_ACKS`) and `--replica-ack-timeout-ms MS` (or `REPLICA_ACK_TIMEOUT_MS`); the flags
/// win over the variables, empty variables count as unset.
///
/// Without either, the setting is automatic (``ReplicaAcknowledgement/automatic(for:)``: one replica within 1 s
/// behind Sentinel and on a Redis Cluster, off otherwise). `N = 0` turns acknowledgement off; a timeout alone keeps
/// the automatic number of replicas and is ignored when that number is 0. On a cluster a shard without replicas
/// is never waited for, whatever N: it cannot fail over, so nothing would ever acknowledge it.
///
/// `worker` declares the two options itself (see ``WorkerCommand``) rather than as an option group: every option
/// group costs each start of the command (in a debug build, ArgumentParser validates the command tree by reflection).
struct ReplicaAcknowledgementOptions: Sendable {
    /// `--replica-acks`.
    var replicaAcks: Int?
    /// `--replica-ack-timeout-ms`.
    var replicaAckTimeoutMs: Int?

    /// The help of `--replica-acks`.
    static let replicasHelp = ArgumentHelp(
        "Replicas that must hold the lock and the new session before the worker goes on (Redis WAIT); 0 turns "
            + "it off ($REPLICA_ACKS, default automatic: 1 with a redis-sentinel:// or redis-cluster:// URL, else "
            + "0; on a cluster, shards without replicas are not waited for).",
        valueName: "n"
    )

    /// The help of `--replica-ack-timeout-ms`.
    static let timeoutHelp = ArgumentHelp(
        "How long one WAIT for the replicas may take, 1...10000 ms ($REPLICA_ACK_TIMEOUT_MS, default 1000).",
        valueName: "ms"
    )

    static let replicasVariable = "REPLICA_ACKS"
    static let timeoutVariable = "REPLICA_ACK_TIMEOUT_MS"
    /// The most replicas a setting may ask for (``ReplicaAcknowledgement``'s own limit).
    static let maximumReplicas = 64
    /// The timeout when none is given and the automatic setting has none, ms.
    static let defaultTimeoutMilliseconds = 1000
    /// The longest timeout, ms (``ReplicaAcknowledgement``'s own limit).
    static let maximumTimeoutMilliseconds = 10_000

    /// The value for ``RefresherConfiguration/replicaAcknowledgement``: `nil` (automatic) when neither the flags nor
    /// the variables are given.
    func setting(
        for redis: RedisConfiguration,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> ReplicaAcknowledgement? {
        try Self.setting(
            replicas: replicaAcks,
            timeoutMilliseconds: replicaAckTimeoutMs,
            for: redis,
            environment: environment
        )
    }

    /// The setting of the flags' values (`nil` when not given), else of the variables, for `redis`; `nil` when
    /// neither gives one (automatic).
    static func setting(
        replicas replicasFlag: Int?,
        timeoutMilliseconds timeoutFlag: Int?,
        for redis: RedisConfiguration,
        environment: [String: String]
    ) throws -> ReplicaAcknowledgement? {
        let replicas = try integer(replicasFlag, replicasVariable, environment: environment)
        let timeout = try integer(timeoutFlag, timeoutVariable, environment: environment)
        if let replicas, !(0...maximumReplicas).contains(replicas) {
            let name = replicasFlag == nil ? replicasVariable : "--replica-acks"
            throw CLIError("\(name) must be in 0...\(maximumReplicas), got \(replicas)")
        }
        if let timeout, !(1...maximumTimeoutMilliseconds).contains(timeout) {
            let name = timeoutFlag == nil ? timeoutVariable : "--replica-ack-timeout-ms"
            throw CLIError("\(name) must be in 1...\(maximumTimeoutMilliseconds) ms, got \(timeout)")
        }
        guard replicas != nil || timeout != nil else { return nil }
        let automatic = ReplicaAcknowledgement.automatic(for: redis)
        let count = replicas ?? automatic.replicas
        guard count > 0 else { return .off }
        // The automatic setting's timeout when it waits for replicas; its help's default otherwise.
        let fallback = automatic.isOn ? automatic.timeout : .milliseconds(defaultTimeoutMilliseconds)
        return ReplicaAcknowledgement(
            replicas: count,
            timeout: timeout.map { .milliseconds($0) } ?? fallback,
            skipsShardsWithoutReplicas: automatic.skipsShardsWithoutReplicas
        )
    }

    /// The setting a worker started with `environment` (and no flags) uses for `redis`, and whether it is the
    /// automatic one: what `status` shows.
    static func effective(
        for redis: RedisConfiguration,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> (acknowledgement: ReplicaAcknowledgement, automatic: Bool) {
        if let chosen = try setting(replicas: nil, timeoutMilliseconds: nil, for: redis, environment: environment) {
            return (chosen, false)
        }
        return (.automatic(for: redis), true)
    }

    /// The flag, else the variable (empty counts as unset) as an integer.
    private static func integer(
        _ flag: Int?,
        _ variable: String,
        environment: [String: String]
    ) throws -> Int? {
        if let flag { return flag }
        guard let text = environment[variable], !text.isEmpty else { return nil }
        guard let value = Int(text) else {
            throw CLIError("\(variable) must be an integer, got '\(Operator.printable(String(text.prefix(40))))'")
        }
        return value
    }
}

extension ReplicaAcknowledgement {
    /// `off`, `1 replica within 1 s`, `2 replicas within 250 ms`.
    var summary: String {
        guard isOn else { return "off" }
        let milliseconds = timeoutMilliseconds
        let within = milliseconds % 1000 == 0 ? "\(milliseconds / 1000) s" : "\(milliseconds) ms"
        return "\(replicas) replica\(replicas == 1 ? "" : "s") within \(within)"
    }

    /// The timeout in whole milliseconds.
    var timeoutMilliseconds: Int64 {
        timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000
    }
}
