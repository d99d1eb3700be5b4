import RedisClient

/// The protocol's one home: every script call on a session's keys and the decoding of its replies.
///
/// The refresher (holder and waiters), ``SessionAdmin`` and the `refresher` command go through it, so the key layout
/// and the meaning of each reply live in one place (with ``Scripts`` and ``SessionRecord``).
struct SessionStore: Sendable {
    let connection: RedisConnection
    let keys: SessionKeys
    /// The scripts in the form the server needs (`SPUBLISH` on a cluster).
    let scripts: ScriptSet
    /// Where the holder's writes that replicas must acknowledge go (``ReplicaAcknowledgement``); `nil` when off.
    var acknowledgement: Acknowledgement?

    /// A connection of its own for acknowledged writes (a `WAIT` blocks its connection until the replicas answer)
    /// and the setting.
    struct Acknowledgement: Sendable {
        let connection: RedisConnection
        let setting: ReplicaAcknowledgement
    }

    init(connection: RedisConnection, keys: SessionKeys, acknowledgement: Acknowledgement? = nil) {
        self.connection = connection
        self.keys = keys
        self.scripts = .for(connection)
        self.acknowledgement = acknowledgement
    }

    /// What the check-or-acquire script found.
    enum CheckOutcome: Sendable, Equatable {
        /// The session went on (newer generation or another lineage): use it.
        case moved(Credentials)
        /// This acquisition holds the lock now. `graceElapsed` is set when the refresh token was presented before by
        /// an attempt whose outcome is unknown (a takeover inside the reuse grace): the time since that first
        /// presentation.
        case acquired(Credentials, atMilliseconds: Int64, graceElapsed: Duration?)
        /// Someone else refreshes (or may still store a result): wait at most `remaining`.
        case held(holder: String, remaining: Duration?, serverTime: Int64?)
        /// The refresh token of this generation was rejected: re-login.
        case rejected(reason: String)
        /// The refresh token of this generation was presented and its outcome is unknown.
        case unknown(reason: String)
        /// A refresh of this generation failed without using the token while the caller waited.
        case failed(RefreshFailure.Outcome, reason: String)
        /// Nothing is stored.
        case noSession
    }

    /// What a check sends.
    struct CheckRequest: Sendable {
        var acquisition: String
        var lockTTL: Duration
        var generation: Int64
        var lineage: String?
        var takeover: Bool
        var countWait: Bool
        var waitingSince: Int64?
        var reuseGrace: Duration
        var attemptHorizon: Duration
    }

    /// ``check(_:)`` as a `Result`, for running it in a task of its own.
    func checkResult(_ request: CheckRequest) async -> Result<CheckOutcome, RefresherError> {
        do {
            return .success(try await check(request))
        } catch {
            return .failure(error)
        }
    }

    func check(_ request: CheckRequest) async throws(RefresherError) -> CheckOutcome {
        let reply = try await run(
            scripts.checkOrAcquire,
            [
                RedisArgument(request.acquisition), RedisArgument(request.lockTTL.wholeMilliseconds),
                RedisArgument(request.generation), RedisArgument(request.lineage ?? ""), request.takeover ? "1" : "0",
                request.countWait ? "1" : "0", RedisArgument(request.waitingSince.map(String.init) ?? ""),
                RedisArgument(request.reuseGrace.wholeMilliseconds),
                RedisArgument(request.attemptHorizon.wholeMilliseconds), RedisArgument(keys.events),
            ]
        )
        guard case .array(let parts) = reply, let kind = parts.first?.string else { throw unexpected("check") }
        switch kind {
        case "none":
            return .noSession
        case "corrupt":
            throw RefresherError(
                .corruptSession,
                "the session's \(parts.dropFirst().first?.string ?? "data") does not parse"
            )
        case "moved" where parts.count == 2:
            guard let credentials = try SessionRecord.decode(parts[1]) else { return .noSession }
            return .moved(credentials)
        case "rejected":
            return .rejected(reason: parts.dropFirst().first?.string ?? "")
        case "unknown":
            return .unknown(reason: parts.dropFirst().first?.string ?? "")
        case "acquired" where parts.count == 4:
            guard let credentials = try SessionRecord.decode(parts[1]) else { return .noSession }
            let elapsed = parts[3].int ?? -1
            return .acquired(
                credentials,
                atMilliseconds: parts[2].int ?? UnixTime.nowMilliseconds,
                graceElapsed: elapsed >= 0 ? .milliseconds(elapsed) : nil
            )
        case "failed" where parts.count == 3:
            let outcome = RefreshFailure.Outcome(rawValue: parts[1].string ?? "") ?? .notProcessed
            return .failed(outcome, reason: parts[2].string ?? "")
        case "held" where parts.count == 4:
            let pttl = parts[2].int ?? -1
            return .held(
                holder: parts[1].string ?? "",
                remaining: pttl > 0 ? .milliseconds(pttl) : nil,
                serverTime: parts[3].int
            )
        default:
            throw unexpected("check")
        }
    }

    /// What the fenced write found.
    enum CommitOutcome: Sendable, Equatable {
        /// Stored as `generation` at server time `atMilliseconds`.
        case committed(generation: Int64, atMilliseconds: Int64?)
        /// Not stored: the session went on without this result (`moved`), or another holder has the lock on the same
        /// generation.
        case fenced(storedGeneration: Int64, holder: String, moved: Bool)
    }

    func commit(
        _ tokens: RefreshedTokens,
        after current: Credentials,
        by acquisition: String,
        duration: Duration
    ) async throws(RefresherError) -> CommitOutcome {
        try await commitAcknowledged(tokens, after: current, by: acquisition, duration: duration).outcome
    }

    /// ``commit(_:after:by:duration:)``, then (with acknowledgement on, in the same round trip) `WAIT`: `replicas`
    /// is how many replicas hold the write, `nil` with acknowledgement off.
    func commitAcknowledged(
        _ tokens: RefreshedTokens,
        after current: Credentials,
        by acquisition: String,
        duration: Duration
    ) async throws(RefresherError) -> (outcome: CommitOutcome, replicas: Int?) {
        let (reply, replicas) = try await runAcknowledged(
            scripts.commit,
            [
                RedisArgument(acquisition), RedisArgument(current.generation), RedisArgument(tokens.accessToken),
                RedisArgument(tokens.refreshToken ?? current.refreshToken),
                RedisArgument(tokens.expiresAtMilliseconds.map(String.init) ?? ""),
                RedisArgument(duration.wholeMilliseconds), RedisArgument(keys.events),
                RedisArgument(current.lineage ?? ""),
            ]
        )
        guard case .array(let parts) = reply, parts.count >= 3, let kind = parts[0].string, let number = parts[1].int
        else { throw unexpected("commit") }
        if kind == "committed" { return (.committed(generation: number, atMilliseconds: parts[2].int), replicas) }
        guard kind == "fenced", parts.count == 4 else { throw unexpected("commit") }
        return (.fenced(storedGeneration: number, holder: parts[2].string ?? "", moved: parts[3].int == 1), replicas)
    }

    /// What ``confirm(_:by:)`` found.
    enum ConfirmOutcome: Sendable, Equatable {
        /// The session is still the holder's; `replicas` acknowledged it (`nil` with acknowledgement off).
        case present(replicas: Int?)
        /// The session is back at the generation before it (or gone): store the tokens again.
        case lost
        /// The session went on without it.
        case moved
    }

    /// Whether `stored` (a session this holder committed) is still there, and how many replicas hold it.
    func confirm(_ stored: Credentials, by owner: String) async throws(RefresherError) -> ConfirmOutcome {
        let (reply, replicas) = try await runAcknowledged(
            scripts.confirm,
            [RedisArgument(owner), RedisArgument(stored.generation), RedisArgument(stored.lineage ?? "")]
        )
        switch reply.int {
        case 1: return .present(replicas: replicas)
        case 0: return .lost
        default: return .moved
        }
    }

    /// Gives back what `owner` took without presenting anything: its lock and its first attempt record (see
    /// ``Scripts/withdraw``), acknowledged like the write that recorded them; returns whether the lock was ours and
    /// how many replicas acknowledged (`nil` with acknowledgement off).
    @discardableResult
    func withdraw(owner: String, reason: String) async throws(RefresherError) -> (released: Bool, replicas: Int?) {
        let (reply, replicas) = try await runAcknowledged(
            scripts.withdraw,
            [RedisArgument(owner), RedisArgument(keys.events), RedisArgument(reason)]
        )
        return (reply.int == 1, replicas)
    }

    /// Records a failed refresh (see ``Scripts/fail``); returns whether anything was recorded.
    func fail(
        _ failure: RefreshFailure,
        generation: Int64,
        lineage: String?,
        by acquisition: String
    ) async throws(RefresherError) -> Bool {
        let reply = try await run(
            scripts.fail,
            [
                RedisArgument(acquisition), RedisArgument(generation), RedisArgument(failure.outcome.rawValue),
                RedisArgument(failure.publishedReason), RedisArgument(keys.events), RedisArgument(lineage ?? ""),
            ]
        )
        return reply.int == 1
    }

    /// Releases the lock if `owner` holds it (compare-and-delete), publishing `released`.
    func release(owner: String, reason: String) async throws(RefresherError) -> Bool {
        try await release(owner: owner, reason: reason, unlessAliveWithin: nil) == .released
    }

    /// Releases the lock if `owner` holds it and, with a window, was not seen alive within it (one atomic step).
    func release(
        owner: String,
        reason: String,
        unlessAliveWithin window: Duration?
    ) async throws(RefresherError) -> SessionAdmin.ReleaseOutcome {
        let reply = try await run(
            scripts.release,
            [
                RedisArgument(owner), RedisArgument(keys.events), RedisArgument(reason),
                RedisArgument(window.map { String($0.wholeMilliseconds) } ?? ""),
            ]
        )
        switch reply.int {
        case 1: return .released
        case -1: return .holderAlive
        default: return .notHeld
        }
    }

    /// Whether a presentation may go ahead.
    enum PresentOutcome: Sendable, Equatable {
        /// Recorded: present the token now.
        case recorded
        /// The lock is someone else's, or the session moved on: present nothing.
        case lockLost
        /// The token was recorded as rejected or of unknown outcome meanwhile: present nothing, ever.
        case outcomeRecorded
    }

    /// Records that `owner` presents the refresh token of generation `generation` now (see ``Scripts/present``).
    func present(owner: String, generation: Int64, ttl: Duration) async throws(RefresherError) -> PresentOutcome {
        try await presentAcknowledged(owner: owner, generation: generation, ttl: ttl).outcome
    }

    /// ``present(owner:generation:ttl:)``, then (with acknowledgement on, in the same round trip) `WAIT`: `replicas`
    /// is how many replicas hold the lock and the attempt record, `nil` with acknowledgement off.
    func presentAcknowledged(
        owner: String,
        generation: Int64,
        ttl: Duration
    ) async throws(RefresherError) -> (outcome: PresentOutcome, replicas: Int?) {
        let (reply, replicas) = try await runAcknowledged(
            scripts.present,
            [RedisArgument(owner), RedisArgument(generation), RedisArgument(ttl.wholeMilliseconds)]
        )
        switch reply.int {
        case 1: return (.recorded, replicas)
        case -1: return (.outcomeRecorded, replicas)
        default: return (.lockLost, replicas)
        }
    }

    /// Writes `newer` (a session this process holds) back over an older generation of the same lineage, when Redis
    /// went backwards (a failover with replication lag, a restore): its refresh token is the valid one, the stored
    /// one was already used. Returns whether it was written.
    func restore(_ newer: Credentials, over stored: Credentials, by owner: String) async throws(RefresherError) -> Bool
    {
        try await run(
            scripts.restore,
            [
                RedisArgument(stored.generation), RedisArgument(newer.lineage ?? ""), RedisArgument(newer.accessToken),
                RedisArgument(newer.refreshToken), RedisArgument(newer.expiresAtMilliseconds.map(String.init) ?? ""),
                RedisArgument(newer.generation), RedisArgument(owner), RedisArgument(keys.events),
            ]
        ).int == 1
    }

    /// How an extension went.
    enum ExtendOutcome: Sendable, Equatable {
        case extended, reclaimed, lost
    }

    func extend(owner: String, ttl: Duration, generation: Int64) async throws(RefresherError) -> ExtendOutcome {
        let reply = try await run(
            scripts.extend,
            [RedisArgument(owner), RedisArgument(ttl.wholeMilliseconds), RedisArgument(generation)]
        )
        switch reply.int {
        case 1: return .extended
        case 2: return .reclaimed
        default: return .lost
        }
    }

    /// Stores `tokens` as generation 1 of a new lineage when nothing is stored; returns the stored generation and
    /// whether this call wrote it.
    func seed(_ tokens: RefreshedTokens, by owner: String) async throws(RefresherError) -> (Int64, wrote: Bool) {
        try SessionRecord.validate(tokens, requireRefreshToken: true)
        let reply = try await run(scripts.seed, sessionArguments(tokens, by: owner))
        guard case .array(let parts) = reply, parts.count == 2, let generation = parts[0].int, let wrote = parts[1].int
        else { throw unexpected("seed") }
        return (generation, wrote == 1)
    }

    /// Installs `tokens` after a fresh login as the next generation of a new lineage; returns the generation.
    func replace(_ tokens: RefreshedTokens, by owner: String) async throws(RefresherError) -> Int64 {
        try SessionRecord.validate(tokens, requireRefreshToken: true)
        let reply = try await run(scripts.replace, sessionArguments(tokens, by: owner))
        guard let generation = reply.int else { throw unexpected("replace") }
        return generation
    }

    /// Everything an operator needs to know about the session, without its tokens, in one round trip.
    func status() async throws(RefresherError) -> SessionAdmin.Status {
        let replies: [Result<RedisValue, RedisError>]
        do {
            replies = try await connection.pipeline([
                RedisCommand("GET", RedisArgument(keys.lock)),
                RedisCommand("PTTL", RedisArgument(keys.lock)),
                RedisCommand("GET", RedisArgument(keys.lastRefreshTime)),
                RedisCommand("HGETALL", RedisArgument(keys.sessionHash)),
                RedisCommand("HGETALL", RedisArgument(keys.stats)),
                RedisCommand("TIME"),
            ])
        } catch {
            throw RefresherError(redis: error)
        }
        func value(_ index: Int) throws(RefresherError) -> RedisValue {
            do { return try replies[index].get() } catch { throw RefresherError(redis: error) }
        }
        let holder = try value(0).string
        let pttl = try value(1).int ?? -2
        let session = try value(3).hash ?? [:]
        func text(_ field: String) -> String? { session[field].map { String(decoding: $0, as: UTF8.self) } }
        func number(_ field: String) -> Int64? { text(field).flatMap { Int64($0) } }
        var stats: [String: Int64] = [:]
        for (field, bytes) in try value(4).hash ?? [:] {
            if let number = Int64(String(decoding: bytes, as: UTF8.self)) { stats[field] = number }
        }
        let time = try value(5).array ?? []
        let serverTime = (time.first?.int ?? 0) * 1000 + (time.dropFirst().first?.int ?? 0) / 1000
        let lastRefreshTime = try value(2).int
        let generation = number(SessionField.generation)
        let attempt = (
            by: text(SessionField.attemptBy), at: number(SessionField.attemptAt),
            heartbeat: number(SessionField.attemptHeartbeat)
        )
        return SessionAdmin.Status(
            lockHolder: holder,
            lockTTLMilliseconds: holder != nil && pttl >= 0 ? pttl : nil,
            lastRefreshTime: lastRefreshTime,
            attemptBy: attempt.by,
            attemptAt: attempt.at,
            attemptHeartbeat: attempt.heartbeat,
            holderLastSeen: SessionAdmin.Status.lastSeen(
                holder: holder,
                lastRefreshTime: lastRefreshTime,
                attemptBy: attempt.by,
                attemptAt: attempt.at,
                attemptHeartbeat: attempt.heartbeat
            ),
            hasSession: !session.isEmpty,
            generation: generation,
            expiresAt: number(SessionField.expiresAt),
            refreshedAt: number(SessionField.refreshedAt),
            refreshedBy: text(SessionField.refreshedBy),
            accessTokenFingerprint: text(SessionField.accessToken).map(TokenFingerprint.of),
            refreshTokenFingerprint: text(SessionField.refreshToken).map(TokenFingerprint.of),
            rejectedReason: number(SessionField.rejectedGeneration) == generation
                ? text(SessionField.rejectedReason) : nil,
            unknownOutcomeReason: number(SessionField.unknownGeneration) == generation
                ? text(SessionField.unknownReason) : nil,
            lineage: text(SessionField.lineage),
            stats: stats,
            serverTime: serverTime
        )
    }

    /// The stored session, `nil` when there is none.
    func load() async throws(RefresherError) -> Credentials? {
        let reply: RedisValue
        do {
            reply = try await connection.send("HGETALL", RedisArgument(keys.sessionHash))
        } catch {
            throw RefresherError(redis: error)
        }
        return try SessionRecord.decode(reply)
    }

    private func sessionArguments(_ tokens: RefreshedTokens, by owner: String) -> [RedisArgument] {
        [
            RedisArgument(tokens.accessToken), RedisArgument(tokens.refreshToken ?? ""),
            RedisArgument(tokens.expiresAtMilliseconds.map(String.init) ?? ""), RedisArgument(owner),
            RedisArgument(keys.events), RedisArgument(SessionRecord.newLineage()),
        ]
    }

    /// Runs one of the protocol's scripts on this session's keys, turning the scripts' refusals into errors.
    private func run(_ script: RedisScript, _ arguments: [RedisArgument]) async throws(RefresherError) -> RedisValue {
        let reply: RedisValue
        do {
            reply = try await connection.run(script, keys: keys.scriptKeys, arguments: arguments)
        } catch {
            throw RefresherError(redis: error)
        }
        try Self.refuseScriptRefusal(reply, channel: keys.events)
        return reply
    }

    /// Runs a script on the acknowledgement connection followed by `WAIT` in the same round trip (the `WAIT` counts
    /// the replicas that hold everything written before it); without acknowledgement, like ``run(_:_:)`` with no
    /// count.
    private func runAcknowledged(
        _ script: RedisScript,
        _ arguments: [RedisArgument]
    ) async throws(RefresherError) -> (RedisValue, replicas: Int?) {
        guard let acknowledgement, try await shardHasReplicas(acknowledgement) else {
            return (try await run(script, arguments), nil)
        }
        let reply: RedisValue
        let waited: Result<RedisValue, RedisError>
        do {
            let (scriptReply, rest) = try await acknowledgement.connection.run(
                script,
                keys: keys.scriptKeys,
                arguments: arguments,
                followedBy: [acknowledgement.setting.command]
            )
            reply = scriptReply
            waited = rest[0]
        } catch {
            throw RefresherError(redis: error)
        }
        try Self.refuseScriptRefusal(reply, channel: keys.events)
        // A WAIT the ACL refuses is a configuration problem, not replicas that lag. Any other error (a primary being
        // demoted answers a blocked WAIT with UNBLOCKED) acknowledges nothing: the script has run.
        switch waited {
        case .success(let value): return (reply, value.int.map { Int($0) } ?? 0)
        case .failure(let error) where error.serverErrorPrefix == "NOPERM": throw RefresherError(redis: error)
        case .failure: return (reply, 0)
        }
    }

    /// Whether writes must wait for replicas: always, unless the setting skips cluster shards without replicas and the
    /// session's shard lists none.
    private func shardHasReplicas(_ acknowledgement: Acknowledgement) async throws(RefresherError) -> Bool {
        guard acknowledgement.setting.skipsShardsWithoutReplicas else { return true }
        do {
            let map = try await acknowledgement.connection.clusterSlotMap()
            // A shard learnt from a MOVED reply only (replicas not known yet) is waited for.
            guard let shard = map?.shard(forSlot: HashSlot.of(keys.lock)), shard.replicasKnown else { return true }
            return !shard.replicas.isEmpty
        } catch {
            throw RefresherError(redis: error)
        }
    }

    /// Throws ``RefresherError/Code/redisError`` for a script's `{"wrongtype", key, type}` or `{"noperm", command}`
    /// reply: nothing was changed.
    static func refuseScriptRefusal(_ reply: RedisValue, channel: String) throws(RefresherError) {
        guard case .array(let parts) = reply, let kind = parts.first?.string else { return }
        if kind == "wrongtype", parts.count == 3 {
            throw RefresherError(
                .redisError,
                "WRONGTYPE: \(parts[1].string ?? "a refresher key") holds a \(parts[2].string ?? "value") that the "
                    + "refresher did not write; nothing was changed (delete or rename that key)"
            )
        }
        if kind == "noperm", parts.count == 2 {
            throw RefresherError(
                .redisError,
                "NOPERM: the Redis user may not \(parts[1].string ?? "PUBLISH") to \(channel); nothing was changed "
                    + "(grant it in the ACL)"
            )
        }
    }

    private func unexpected(_ script: String) -> RefresherError {
        RefresherError(.redisError, "unexpected reply from the \(script) script")
    }
}
