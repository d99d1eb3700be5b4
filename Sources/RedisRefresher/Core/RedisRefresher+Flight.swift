import Logging
import RedisClient
import Synchronization

/// What the check-or-acquire script found.
enum CheckOutcome {
    case moved(Credentials)
    case acquired(Credentials, atMilliseconds: Int64)
    case held(holder: String, remaining: Duration?, serverTime: Int64?)
    case rejected(reason: String)
    case failed(rejected: Bool, reason: String)
    case noSession
}

extension RedisRefresher {
    /// The work of one flight: check, then either use the newer session, refresh as the lock holder, or wait for
    /// the holder's outcome (pub/sub) while polling every `pollInterval`.
    func run(_ flight: Flight) async {
        let generation = flight.generation
        let mailbox = Mailbox<RefresherEvent>()
        // Listen before the first check, so an outcome published after the check is never missed.
        let pubSub = configuration.wakeUp == .pubSub
        let handlerID = connections.hub.addHandler(channel: keys.events) { event in
            if pubSub { mailbox.post(event) }
        }
        defer {
            connections.hub.removeHandler(handlerID, channel: keys.events)
            forget(flight)
        }
        var firstCheck = true
        var lastHolder: String?
        /// Server time of the first check that found the lock held: failures recorded after it are this flight's.
        var waitingSince: Int64?
        /// How the latest wait ended (an events message or the poll timeout), for the resolution metrics.
        var wokenBy: RefresherMetrics.Wake?
        while true {
            if Task.isCancelled || flight.isAbandoned {
                flight.finish(.failure(RefresherError(.cancelled, "abandoned")))
                return
            }
            // Counted as lock activity from before the attempt: shutdown must release a lock that this check may
            // take, even if the reply has not been processed yet.
            state.withLock { $0.holding += 1 }
            // Once sent, a check may take the lock on the server whatever happens here: it runs in a task of its
            // own, so cancelling this flight (every caller gave up) cannot drop its answer and orphan the lock
            // until its TTL.
            let (takeover, countWait, since) = (lastHolder != nil, firstCheck, waitingSince)
            let checked = await Task {
                await self.checkResult(generation: generation, takeover: takeover, countWait: countWait, since: since)
            }.value
            let outcome: CheckOutcome
            switch checked {
            case .success(let value):
                outcome = value
                if case .acquired = outcome {} else { state.withLock { $0.holding -= 1 } }
            case .failure(let error) where error.code == .redisUnavailable:
                state.withLock { $0.holding -= 1 }
                // Keep trying until the callers' deadlines; they learn the reason if they time out.
                flight.note(problem: error.message)
                logger.debug("check failed; will retry", metadata: ["error": "\(error.message)"])
                _ = await mailbox.next(timeout: configuration.pollInterval)
                continue
            case .failure(let error):
                state.withLock { $0.holding -= 1 }
                flight.finish(.failure(error))
                return
            }
            switch outcome {
            case .moved(let credentials):
                remember(credentials)
                metrics.resolved(via: wokenBy, with: credentials)
                flight.finish(.success(credentials))
                return
            case .noSession:
                flight.finish(.failure(RefresherError(.noSession, "no session is stored at \(keys.sessionHash)")))
                return
            case .rejected(let reason):
                metrics.resolved(via: wokenBy, with: nil)
                flight.finish(
                    .failure(
                        RefresherError(.reloginRequired, "the refresh token was rejected (\(reason)); log in again")))
                return
            case .failed(let rejected, let reason):
                metrics.resolved(via: wokenBy, with: nil)
                flight.finish(.failure(Self.holderFailure(rejected: rejected, reason: reason)))
                return
            case .acquired(let credentials, let acquiredAt):
                flight.markHolding()
                if state.withLock({ $0.isShutDown }) || flight.isAbandoned {
                    // Shut down, or every caller left, while the lock was being taken: give it back (publishing
                    // `released`, so other workers compete at once) instead of refreshing for nobody. In a task of
                    // its own: this flight's task may be cancelled, and a cancelled task's commands are not sent.
                    let reason: RedisArgument = flight.isAbandoned ? "abandoned" : "shutdown"
                    _ = await Task {
                        try? await self.runScript(
                            Scripts.release,
                            arguments: [
                                RedisArgument(self.connections.ownerID), RedisArgument(self.keys.events), reason,
                            ])
                    }.value
                    state.withLock { $0.holding -= 1 }
                    flight.finish(.failure(RefresherError(.shutdown, "the refresher was shut down")))
                    return
                }
                if lastHolder != nil {
                    metrics.takeovers.increment()
                    logger.info("took over an expired lock", metadata: ["generation": "\(generation)"])
                }
                // The holder's work runs in a task of its own: it must finish (store or release) even if this
                // flight's task was cancelled in the meantime.
                let holding = Task { await self.refreshAsHolder(credentials, acquiredAt: acquiredAt) }
                flight.finish(await holding.value)
                return
            case .held(let holder, let remaining, let serverTime):
                if waitingSince == nil { waitingSince = serverTime }
                if firstCheck {
                    metrics.waits.increment()
                    logger.debug("waiting for another worker's refresh", metadata: ["holder": "\(holder)"])
                }
                firstCheck = false
                lastHolder = holder
                // Check again when the outcome is published, at the latest after a poll interval, or as soon as
                // the holder's lock would expire.
                var wait = configuration.pollInterval
                if pubSub, let remaining, remaining < wait { wait = max(remaining, .milliseconds(1)) }
                let woke = await mailbox.next(timeout: wait)
                wokenBy = woke == nil ? .poll : .pubSub
                switch woke {
                case .failed(let failedGeneration, let rejected, _, let reason) where failedGeneration == generation:
                    metrics.resolved(via: .pubSub, with: nil)
                    flight.finish(.failure(Self.holderFailure(rejected: rejected, reason: reason)))
                    return
                case .released:
                    lastHolder = nil
                default:
                    break
                }
            }
        }
    }

    /// The error waiters get when the lock holder's refresh failed.
    static func holderFailure(rejected: Bool, reason: String) -> RefresherError {
        rejected
            ? RefresherError(.reloginRequired, "the refresh token was rejected (\(reason)); log in again")
            : RefresherError(.refreshFailed, "another worker's refresh failed: \(reason)")
    }

    /// ``check(generation:takeover:countWait:since:)`` as a `Result`, for running it in a task of its own.
    func checkResult(
        generation: Int64, takeover: Bool, countWait: Bool, since: Int64?
    ) async -> Result<CheckOutcome, RefresherError> {
        do {
            return .success(
                try await check(generation: generation, takeover: takeover, countWait: countWait, since: since))
        } catch {
            return .failure(error)
        }
    }

    /// One round trip: the stored generation, and the lock if the generation is still ours to refresh.
    func check(
        generation: Int64, takeover: Bool, countWait: Bool, since: Int64? = nil
    ) async throws(RefresherError) -> CheckOutcome {
        let reply = try await runScript(
            Scripts.checkOrAcquire,
            arguments: [
                RedisArgument(connections.ownerID), RedisArgument(configuration.lockTTL.wholeMilliseconds),
                RedisArgument(generation), takeover ? "1" : "0", countWait ? "1" : "0",
                RedisArgument(since.map(String.init) ?? ""),
            ])
        guard case .array(let parts) = reply, let kind = parts.first?.string else {
            throw RefresherError(.redisError, "unexpected reply from the check script")
        }
        switch kind {
        case "none":
            return .noSession
        case "corrupt":
            throw RefresherError(
                .corruptSession, "the session's \(parts.dropFirst().first?.string ?? "data") does not parse")
        case "moved" where parts.count == 2:
            guard let credentials = try SessionRecord.decode(parts[1]) else { return .noSession }
            return .moved(credentials)
        case "rejected":
            return .rejected(reason: parts.dropFirst().first?.string ?? "")
        case "acquired" where parts.count == 3:
            guard let credentials = try SessionRecord.decode(parts[1]) else { return .noSession }
            return .acquired(credentials, atMilliseconds: parts[2].int ?? UnixTime.nowMilliseconds)
        case "failed" where parts.count == 3:
            return .failed(rejected: parts[1].string == "rejected", reason: parts[2].string ?? "")
        case "held" where parts.count == 4:
            let pttl = parts[2].int ?? -1
            return .held(
                holder: parts[1].string ?? "", remaining: pttl > 0 ? .milliseconds(pttl) : nil, serverTime: parts[3].int
            )
        default:
            throw RefresherError(.redisError, "unexpected reply from the check script")
        }
    }

    /// Runs the refresh function while holding the lock (extending it), then stores the result with the fenced
    /// write or publishes the failure; the lock is released either way.
    func refreshAsHolder(_ current: Credentials, acquiredAt: Int64) async -> Result<Credentials, RefresherError> {
        // The lock activity counted when the check took the lock ends here.
        defer { state.withLock { $0.holding -= 1 } }
        let generation = current.generation
        let started = ContinuousClock.now
        logger.info("refreshing", metadata: ["generation": "\(generation)"])
        let lockLost = Flag()
        let extender = Task { await self.extendLock(while: lockLost) }
        let refresh = self.refresh
        let outcome = await race(timeout: configuration.refreshTimeout) { try await refresh(current) }
        extender.cancel()
        let duration = ContinuousClock.now - started
        var failure: RefreshFailure
        switch outcome {
        case .some(.success(let tokens)):
            if let problem = unusableReason(tokens) {
                failure = .transient("the refresh function returned unusable tokens: \(problem)")
            } else {
                return await store(tokens, after: current, duration: duration, lockLost: lockLost.isSet)
            }
        case .some(.failure(let error as RefreshFailure)):
            failure = error
        case .some(.failure(let error)):
            // Only the error's type is published: its description may hold response bodies or tokens.
            failure = .transient("refresh function threw \(type(of: error))")
        case .none:
            failure = .transient("the refresh function did not finish within \(configuration.refreshTimeout)")
        }
        return await publish(failure, generation: generation, duration: duration)
    }

    /// Why tokens returned by the refresh function cannot be stored, if they cannot.
    private func unusableReason(_ tokens: RefreshedTokens) -> String? {
        if tokens.accessToken.isEmpty { return "empty access token" }
        if let refreshToken = tokens.refreshToken, refreshToken.isEmpty { return "empty refresh token" }
        if tokens.accessToken.utf8.count > SessionRecord.maximumTokenBytes
            || (tokens.refreshToken?.utf8.count ?? 0) > SessionRecord.maximumTokenBytes
        {
            return "token larger than \(SessionRecord.maximumTokenBytes) bytes"
        }
        if let expiresAt = tokens.expiresAtMilliseconds, expiresAt <= UnixTime.nowMilliseconds {
            return "already expired"
        }
        return nil
    }

    /// Extends the lock every third of its TTL until cancelled; sets `lockLost` when an extension finds the lock
    /// gone or someone else's.
    private func extendLock(while lockLost: Flag) async {
        let interval = configuration.lockTTL / 3
        while true {
            guard (try? await Task.sleep(for: interval)) != nil else { return }
            do {
                let reply = try await runScript(
                    Scripts.extend,
                    arguments: [
                        RedisArgument(connections.ownerID), RedisArgument(configuration.lockTTL.wholeMilliseconds),
                    ])
                if reply.int != 1 {
                    lockLost.set()
                    logger.info("lost the lock while refreshing; the result will be fenced if someone else refreshed")
                    return
                }
            } catch {
                if error.code == .cancelled { return }
                logger.debug("could not extend the lock", metadata: ["error": "\(error.message)"])
            }
        }
    }

    /// The fenced write, retried on connection errors for up to one lock TTL (the new refresh token exists only
    /// here until it is stored).
    private func store(
        _ tokens: RefreshedTokens, after current: Credentials, duration: Duration, lockLost: Bool
    ) async -> Result<Credentials, RefresherError> {
        let arguments: [RedisArgument] = [
            RedisArgument(connections.ownerID), RedisArgument(current.generation), RedisArgument(tokens.accessToken),
            RedisArgument(tokens.refreshToken ?? current.refreshToken),
            RedisArgument(tokens.expiresAtMilliseconds.map(String.init) ?? ""),
            RedisArgument(duration.wholeMilliseconds), RedisArgument(keys.events),
        ]
        let reply: RedisValue
        switch await retryingOnConnectionErrors({ () async throws(RefresherError) -> RedisValue in
            try await self.runScript(Scripts.commit, arguments: arguments)
        }) {
        case .success(let value): reply = value
        case .failure(let error):
            logger.info("could not store the refreshed session", metadata: ["error": "\(error.message)"])
            return .failure(error)
        }
        guard case .array(let parts) = reply, parts.count == 3, let kind = parts[0].string, let number = parts[1].int
        else {
            return .failure(RefresherError(.redisError, "unexpected reply from the commit script"))
        }
        if kind == "committed" {
            let credentials = Credentials(
                accessToken: tokens.accessToken, refreshToken: tokens.refreshToken ?? current.refreshToken,
                expiresAtMilliseconds: tokens.expiresAtMilliseconds, generation: number,
                refreshedAtMilliseconds: parts[2].int, refreshedBy: connections.ownerID)
            remember(credentials)
            metrics.refreshed(duration: duration)
            logger.info(
                "refreshed",
                metadata: [
                    "generation": "\(number)", "outcome": "refreshed", "duration_ms": "\(duration.wholeMilliseconds)",
                ])
            return .success(credentials)
        }
        // Fenced: this worker outlived its lock and someone else moved the session on (or holds the lock now).
        metrics.fencedWrites.increment()
        logger.info(
            "refresh result fenced off",
            metadata: [
                "generation": "\(current.generation)", "stored_generation": "\(number)", "outcome": "fenced",
                "lock_lost": "\(lockLost)",
            ])
        if number > current.generation {
            state.withLock { $0.stale = true }
            do {
                return .success(try await storedCredentials())
            } catch {
                return .failure(error)
            }
        }
        return .failure(RefresherError(.lockLost, "the lock expired during the refresh and another worker holds it"))
    }

    /// Publishes a failed refresh (releasing the lock) and turns it into the callers' error.
    private func publish(
        _ failure: RefreshFailure, generation: Int64, duration: Duration
    ) async -> Result<Credentials, RefresherError> {
        let reason = failure.publishedReason
        metrics.failed(rejected: failure.isRejected, duration: duration)
        logger.info(
            "refresh failed",
            metadata: [
                "generation": "\(generation)", "outcome": failure.isRejected ? "rejected" : "failed",
                "reason": "\(reason)", "duration_ms": "\(duration.wholeMilliseconds)",
            ])
        let arguments: [RedisArgument] = [
            RedisArgument(connections.ownerID), RedisArgument(generation),
            failure.isRejected ? "rejected" : "transient", RedisArgument(reason), RedisArgument(keys.events),
        ]
        if case .failure(let error) = await retryingOnConnectionErrors({
            () async throws(RefresherError) -> RedisValue in
            try await self.runScript(Scripts.fail, arguments: arguments)
        }) {
            logger.info(
                "could not publish the failure; the lock expires by itself", metadata: ["error": "\(error.message)"])
        }
        return .failure(
            failure.isRejected
                ? RefresherError(.reloginRequired, "the refresh token was rejected (\(reason)); log in again")
                : RefresherError(.refreshFailed, "the refresh failed: \(reason)"))
    }

    /// Retries `operation` while it fails with ``RefresherError/Code/redisUnavailable``, for up to one lock TTL.
    private func retryingOnConnectionErrors(
        _ operation: () async throws(RefresherError) -> RedisValue
    ) async -> Result<RedisValue, RefresherError> {
        let deadline = ContinuousClock.now.advanced(by: configuration.lockTTL)
        var delay = Duration.milliseconds(50)
        while true {
            do {
                return .success(try await operation())
            } catch  where error.code == .redisUnavailable && ContinuousClock.now.advanced(by: delay) < deadline {
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(1))
            } catch {
                return .failure(error)
            }
        }
    }
}

/// A thread-safe boolean that only goes from false to true.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}
