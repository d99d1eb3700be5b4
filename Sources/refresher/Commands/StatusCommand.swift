import ArgumentParser
import Foundation
import RedisRefresher

/// `refresher status`: one look at a session: lock, generation, expiry, last refresh, rejection, fleet counters, and
/// the Redis behind it: the node (behind Sentinel, the primary it found; on a cluster, the primary serving the
/// session's slot, and the cluster's state), its replicas, and the replica acknowledgement a worker with this URL and
/// environment uses.
///
/// Shows token fingerprints only, never tokens. Exits 0 whenever Redis answered (also when no session is stored or
/// a re-login is required: the output says so); 1 when Redis cannot be reached or the input is bad.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a session's lock, generation, expiry, last refresh and fleet counters (never its tokens).",
        discussion: """
            Also shows the Redis node the command talked to (with a redis-sentinel:// URL, the primary the \
            sentinels named), its replicas from INFO replication, and the replica acknowledgement a worker with \
            this URL and environment ($REPLICA_ACKS, $REPLICA_ACK_TIMEOUT_MS) uses.

            With a redis-cluster:// URL it shows the session's hash slot, the primary that serves it (whose \
            replicas the node and replicas lines describe), the replicas the cluster lists for that shard, and the \
            cluster's state (CLUSTER INFO of that primary) with its number of shards.
            """
    )

    @OptionGroup var options: SessionOptions

    @Flag(name: .long, help: "Print one JSON object instead of aligned lines.")
    var json = false

    func run() async throws {
        let admin = try options.admin(clientName: "refresher-status")
        defer { admin.connection.close() }
        let configuration = admin.connection.configuration
        let (acknowledgement, automatic) = try ReplicaAcknowledgementOptions.effective(for: configuration)
        let status = try await Operator.talkingTo(configuration) { try await admin.status() }
        // On a cluster, the node that serves the session's slot is the one whose replication matters.
        var cluster: StatusReport.Cluster?
        var node: RedisConfiguration.Cluster.Node?
        if configuration.cluster != nil {
            (cluster, node) = await StatusReport.Cluster.fetch(keys: admin.keys, from: admin.connection)
        }
        let replication: StatusReport.Replication
        do {
            replication = StatusReport.Replication(try await ReplicationInfo.fetch(from: admin.connection, node: node))
        } catch let error as RedisError {
            replication = StatusReport.Replication(error: error.message)
        }
        var report = StatusReport(
            session: admin.keys.session.rawValue,
            redis: configuration.redactedDescription,
            status: status,
            replication: replication,
            replicaAcknowledgement: StatusReport.Acknowledgement(
                acknowledgement,
                automatic: automatic,
                sentinel: configuration.sentinel != nil,
                cluster: configuration.cluster != nil,
                onlineReplicas: replication.onlineReplicas,
                shardReplicas: cluster?.shardReplicas.count
            )
        )
        report.cluster = cluster
        if json {
            emit(try Operator.json(report))
        } else {
            for line in Operator.table(report.rows) { emit(line) }
        }
    }
}

/// The `status --json` object. Field names are a stable interface: every field is always present (`null` when not
/// applicable); times are ms since the epoch on the Redis server's clock.
struct StatusReport: Encodable {
    struct Lock: Encodable {
        /// The holder's owner id (`host:pid:random`).
        var holder: String
        /// The remaining TTL; `null` when the lock has no expiry (it would never go away by itself).
        var ttlMilliseconds: Int64?
        /// When the holder was last seen alive (lock taken or extended); `null` when nothing recorded it.
        var lastSeen: Int64?
        /// `server_time - last_seen`.
        var lastSeenAgo: Int64?

        enum CodingKeys: String, CodingKey {
            case holder
            case ttlMilliseconds = "ttl_ms"
            case lastSeen = "last_seen_ms"
            case lastSeenAgo = "last_seen_ago_ms"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(holder, forKey: .holder)
            try container.encode(ttlMilliseconds, forKey: .ttlMilliseconds)
            try container.encode(lastSeen, forKey: .lastSeen)
            try container.encode(lastSeenAgo, forKey: .lastSeenAgo)
        }
    }

    var session: String
    var redis: String
    /// On a Redis Cluster: the session's slot, the primary serving it, the cluster's state; `null` otherwise.
    var cluster: Cluster?
    /// The node the command talked to (on a cluster, the primary serving the session's slot) and its replicas.
    var replication: Replication
    /// The replica acknowledgement a worker with this URL and environment uses.
    var replicaAcknowledgement: Acknowledgement
    /// `ok`, `expired`, `relogin_required` or `no_session`.
    var state: String
    var hasSession: Bool
    var generation: Int64?
    var expiresAt: Int64?
    /// `expires_at - server_time`: negative once expired.
    var expiresIn: Int64?
    var expired: Bool?
    var refreshedAt: Int64?
    var refreshedBy: String?
    var accessTokenFingerprint: String?
    var refreshTokenFingerprint: String?
    var rejectedReason: String?
    /// Set when the last refresh's answer was lost outside the provider's reuse grace.
    var unknownOutcomeReason: String?
    var lineage: String?
    var reloginRequired: Bool
    var lock: Lock?
    var lastRefreshTime: Int64?
    var stats: [String: Int64]
    var serverTime: Int64

    enum CodingKeys: String, CodingKey {
        case session, redis, cluster, replication, state, generation, expired, lock, stats
        case replicaAcknowledgement = "replica_acknowledgement"
        case hasSession = "has_session"
        case expiresAt = "expires_at_ms"
        case expiresIn = "expires_in_ms"
        case refreshedAt = "refreshed_at_ms"
        case refreshedBy = "refreshed_by"
        case accessTokenFingerprint = "access_token_fingerprint"
        case refreshTokenFingerprint = "refresh_token_fingerprint"
        case rejectedReason = "rejected_reason"
        case unknownOutcomeReason = "unknown_outcome_reason"
        case lineage
        case reloginRequired = "relogin_required"
        case lastRefreshTime = "last_refresh_time_ms"
        case serverTime = "server_time_ms"
    }

    init(
        session: String,
        redis: String,
        status: SessionAdmin.Status,
        replication: Replication,
        replicaAcknowledgement: Acknowledgement
    ) {
        self.session = session
        self.redis = redis
        self.replication = replication
        self.replicaAcknowledgement = replicaAcknowledgement
        hasSession = status.hasSession
        generation = status.generation
        expiresAt = status.expiresAt
        expiresIn = status.expiresAt.map { $0 - status.serverTime }
        expired = expiresIn.map { $0 <= 0 }
        refreshedAt = status.refreshedAt
        refreshedBy = status.refreshedBy
        accessTokenFingerprint = status.accessTokenFingerprint
        refreshTokenFingerprint = status.refreshTokenFingerprint
        rejectedReason = status.rejectedReason
        unknownOutcomeReason = status.unknownOutcomeReason
        lineage = status.lineage
        reloginRequired = status.rejectedReason != nil || status.unknownOutcomeReason != nil
        lock = status.lockHolder.map {
            Lock(
                holder: $0,
                ttlMilliseconds: status.lockTTLMilliseconds,
                lastSeen: status.holderLastSeen,
                lastSeenAgo: status.holderLastSeenAgoMilliseconds
            )
        }
        lastRefreshTime = status.lastRefreshTime
        stats = status.stats
        serverTime = status.serverTime
        if !status.hasSession {
            state = "no_session"
        } else if reloginRequired {
            state = "relogin_required"
        } else if expired == true {
            state = "expired"
        } else {
            state = "ok"
        }
    }

    // Written out so that absent values are `null` rather than missing keys: a stable shape for `jq`.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(session, forKey: .session)
        try container.encode(redis, forKey: .redis)
        try container.encode(cluster, forKey: .cluster)
        try container.encode(replication, forKey: .replication)
        try container.encode(replicaAcknowledgement, forKey: .replicaAcknowledgement)
        try container.encode(state, forKey: .state)
        try container.encode(hasSession, forKey: .hasSession)
        try container.encode(generation, forKey: .generation)
        try container.encode(expiresAt, forKey: .expiresAt)
        try container.encode(expiresIn, forKey: .expiresIn)
        try container.encode(expired, forKey: .expired)
        try container.encode(refreshedAt, forKey: .refreshedAt)
        try container.encode(refreshedBy, forKey: .refreshedBy)
        try container.encode(accessTokenFingerprint, forKey: .accessTokenFingerprint)
        try container.encode(refreshTokenFingerprint, forKey: .refreshTokenFingerprint)
        try container.encode(rejectedReason, forKey: .rejectedReason)
        try container.encode(unknownOutcomeReason, forKey: .unknownOutcomeReason)
        try container.encode(lineage, forKey: .lineage)
        try container.encode(reloginRequired, forKey: .reloginRequired)
        try container.encode(lock, forKey: .lock)
        try container.encode(lastRefreshTime, forKey: .lastRefreshTime)
        try container.encode(stats, forKey: .stats)
        try container.encode(serverTime, forKey: .serverTime)
    }

    /// The human-readable lines: `key  value`, values aligned.
    var rows: [(String, String)] {
        let now = serverTime
        func when(_ time: Int64) -> String {
            "\(Operator.utc(milliseconds: time)) (\(Operator.relative(time, to: now)))"
        }
        var rows: [(String, String)] = [("session", session), ("redis", redis)]
        if let cluster { rows += [("cluster", cluster.stateLine), ("slot", cluster.slotLine)] }
        rows += [
            ("node", replication.nodeLine), ("replicas", replication.replicasLine),
            ("replica acks", replicaAcknowledgement.line),
        ]
        switch state {
        case "no_session": rows.append(("state", "no session stored (store one with `refresher session put`)"))
        case "relogin_required" where rejectedReason != nil:
            rows.append(("state", "re-login required: the refresh token was rejected"))
        case "relogin_required":
            rows.append(
                ("state", "re-login required: the last refresh's answer was lost, its token is not presented again")
            )
        case "expired": rows.append(("state", "expired (the next caller refreshes it)"))
        default: rows.append(("state", "ok"))
        }
        if hasSession {
            rows.append(("generation", generation.map(String.init) ?? "unknown"))
            if let expiresAt {
                let relative =
                    expiresAt > now
                    ? "expires in \(Operator.span(milliseconds: expiresAt - now))"
                    : "expired \(Operator.span(milliseconds: now - expiresAt)) ago"
                rows.append(("expires", "\(Operator.utc(milliseconds: expiresAt)) (\(relative))"))
            } else {
                rows.append(("expires", "unknown"))
            }
            rows.append(("refreshed at", refreshedAt.map(when) ?? "unknown"))
            rows.append(("refreshed by", refreshedBy.map(Operator.printable) ?? "unknown"))
            rows.append(("access token", accessTokenFingerprint ?? "missing"))
            rows.append(("refresh token", refreshTokenFingerprint ?? "missing"))
            if let rejectedReason {
                rows.append(("rejected", "\(Operator.printable(rejectedReason)) (re-login required)"))
            }
            if let unknownOutcomeReason {
                rows.append(
                    ("outcome unknown", "\(Operator.printable(unknownOutcomeReason)) (log in again: `session put`)")
                )
            }
            if let lineage { rows.append(("lineage", Operator.printable(lineage))) }
        }
        if let lock {
            let ttl = lock.ttlMilliseconds.map { "expires in \(Operator.span(milliseconds: $0))" } ?? "no expiry!"
            rows.append(("lock", "held by \(Operator.printable(lock.holder)) (\(ttl))"))
            // Whether the holder is alive: `release` refuses a holder seen within its --live-window.
            rows.append(
                ("holder seen", lock.lastSeenAgo.map { "\(Operator.span(milliseconds: $0)) ago" } ?? "unknown")
            )
        } else {
            rows.append(("lock", "free"))
        }
        rows.append(("last refresh", lastRefreshTime.map(when) ?? "never"))
        rows.append(("stats", Self.statsLine(stats)))
        rows.append(("server time", Operator.utc(milliseconds: serverTime)))
        return rows
    }

    /// `refreshes=3 failures=0 ...`: the documented counters first, in a fixed order, then any others.
    static func statsLine(_ stats: [String: Int64]) -> String {
        let known = ["refreshes", "failures", "waits", "takeovers", "timeouts", "fenced", "last_duration_ms"]
        let others = stats.keys.filter { !known.contains($0) }.sorted()
        return (known + others).map { "\(Operator.printable($0))=\(stats[$0] ?? 0)" }.joined(separator: " ")
    }
}
