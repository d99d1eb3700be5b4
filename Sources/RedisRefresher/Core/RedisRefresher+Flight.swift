import Logging
import RedisClient
import Synchronization

/// What the check-or-acquire script found.
enum CheckOutcome {
    case moved(Credentials)
    case acquired(Credentials, atMilliseconds: Int64)
    case held(holder: String, remaining: Duration?)
    case rejected(reason: String)
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
        while true {
            if Task.isCancelled || flight.isAbandoned {
                flight.finish(.failure(RefresherError(.cancelled, "abandoned")))
                return
            }
            let outcome: CheckOutcome
            // Counted as lock activity from before the attempt: shutdown must release a lock that this check may
            // take, even if the reply has not been processed yet.
            state.withLock { $0.holding += 1 }
            do {
                outcome = try await check(
                    generation: generation, takeover: lastHolder != nil, countWait: firstCheck)
                if case .acquired = outcome {} else { state.withLock { $0.holding -= 1 } }
            } catch where error.code == .redisUnavailable {
                state.withLock { $0.holding -= 1 }
                // Keep trying until the callers' deadlines; they learn the reason if they time out.
                flight.note(problem: error.message)
                logger.debug("check failed; will retry", metadata: ["error": "\(error.message)"])
                _ = await mailbox.next(timeout: configuration.pollInterval)
                continue
            } catch {
                state.withLock { $0.holding -= 1 }
                flight.finish(.failure(error))
                return
            }
            switch outcome {
            case .moved(let credentials):
                remember(credentials)
                flight.finish(.success(credentials))
                return
            case .noSession:
                flight.finish(.failure(RefresherError(.noSession, "no session is stored at \(keys.sessionHash)")))
                return
            case .rejected(let reason):
                flight.finish(
                    .failure(RefresherError(.reloginRequired, "the refresh token was rejected (\(reason)); log in again")))
                return
            case .acquired(let credentials, let acquiredAt):
                flight.markHolding()
                if state.withLock({ $0.isShutDown }) {
                    // Shut down while the lock was being taken: give it back instead of refreshing.
                    _ = try? await runScript(
                        Scripts.release,
                        arguments: [RedisArgument(connections.ownerID), RedisArgument(keys.events), "shutdown"])
                    state.withLock { $0.holding -= 1 }
                    flight.finish(.failure(RefresherError(.shutdown, "the refresher was shut down")))
                    return
                }
                if lastHolder != nil {
                    logger.info("took over an expired lock", metadata: ["generation": "\(generation)"])
                }
                // The holder's work runs in a task of its own: it must finish (store or release) even if this
                // flight's task was cancelled in the meantime.
                let holding = Task { await self.refreshAsHolder(credentials, acquiredAt: acquiredAt) }
                flight.finish(await holding.value)
                return
            case .held(let holder, let remaining):
                if firstCheck {
                    logger.debug("waiting for another worker's refresh", metadata: ["holder": "\(holder)"])
                }
                firstCheck = false
                lastHolder = holder
                // Check again when the outcome is published, at the latest after a poll interval, or as soon as
                // the holder's lock would expire.
                var wait = configuration.pollInterval
                if pubSub, let remaining, remaining < wait { wait = max(remaining, .milliseconds(1)) }
                switch await mailbox.next(timeout: wait) {
                case .failed(let failedGeneration, let rejected, _, let reason) where failedGeneration == generation:
                    let error =
                        rejected
                        ? RefresherError(.reloginRequired, "the refresh token was rejected (\(reason)); log in again")
                        : RefresherError(.refreshFailed, "another worker's refresh failed: \(reason)")
                    flight.finish(.failure(error))
                    return
                case .released:
                    lastHolder = nil
                default:
                    break
                }
            }
        }
    }

    /// One round trip: the stored generation, and the lock if the generation is still ours to refresh.
    func check(generation: Int64, takeover: Bool, countWait: Bool) async throws(RefresherError) -> CheckOutcome {
        let reply = try await runScript(
            Scripts.checkOrAcquire,
            arguments: [
                RedisArgument(connections.ownerID), RedisArgument(configuration.lockTTL.wholeMilliseconds),
                RedisArgument(generation), takeover ? "1" : "0", countWait ? "1" : "0",
            ])
        guard case .array(let parts) = reply, let kind = parts.first?.string else {
            throw RefresherError(.redisError, "unexpected reply from the check script")
        }
        switch kind {
        case "none":
            return .noSession
        case "corrupt":
            throw RefresherError(.corruptSession, "the session's \(parts.dropFirst().first?.string ?? "data") does not parse")
        case "moved" where parts.count == 2:
            guard let credentials = try SessionRecord.decode(parts[1]) else { return .noSession }
            return .moved(credentials)
        case "rejected":
            return .rejected(reason: parts.dropFirst().first?.string ?? "")
        case "acquired" where parts.count == 3:
            guard let credentials = try SessionRecord.decode(parts[1]) else { return .noSession }
            return .acquired(credentials, atMilliseconds: parts[2].int ?? UnixTime.nowMilliseconds)
        case "held" where parts.count == 3:
            let pttl = parts[2].int ?? -1
            return .held(holder: parts[1].string ?? "", remaining: pttl > 0 ? .milliseconds(pttl) : nil)
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
            logger.info(
                "refreshed",
                metadata: [
                    "generation": "\(number)", "outcome": "refreshed", "duration_ms": "\(duration.wholeMilliseconds)",
                ])
            return .success(credentials)
        }
        // Fenced: this worker outlived its lock and someone else moved the session on (or holds the lock now).
        logger.info(
            "refresh result fenced off",
            metadata: [
                "generation": "\(current.generation)", "stored_generation": "\(number)", "outcome": "fenced",
                "lock_lost": "\(lockLost)",
            ])
        if number > current.generation {
            state.withLock { $0.stale = true }
            do {
                return .success(try await credentials())
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
        if case .failure(let error) = await retryingOnConnectionErrors({ () async throws(RefresherError) -> RedisValue in
            try await self.runScript(Scripts.fail, arguments: arguments)
        }) {
            logger.info("could not publish the failure; the lock expires by itself", metadata: ["error": "\(error.message)"])
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
            } catch where error.code == .redisUnavailable && ContinuousClock.now.advanced(by: delay) < deadline {
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
