import Logging
import RedisClient
import Synchronization
import Tracing

/// The lock holder: presents the refresh token as ``RefreshAttempts`` decides, keeps the lock alive, stores the new
/// tokens with the fenced write (retrying through Redis trouble) or records the failure.
extension RedisRefresher {
    /// Presents the refresh token while holding the lock (extending it), as often as ``RefreshAttempts`` allows,
    /// then stores the new tokens with the fenced write or records the failure; the lock is released either way,
    /// except when a request may still be in flight at shutdown (then it is left to expire).
    ///
    /// `checkSentAt` is when the check that took the lock was sent: a takeover's grace, measured by the server at the
    /// check, counts from there. The work is traced as a ``RefresherSpanNames/refresh`` span, the refresh function's
    /// own spans (the identity provider's request) as its children.
    ///
    /// `withdrew` is true when replicas did not acknowledge the lock and it was given back with nothing presented: the
    /// flight competes for it again.
    func refreshAsHolder(
        _ current: Credentials,
        acquisition: String,
        graceElapsed: Duration?,
        checkSentAt: ContinuousClock.Instant,
        tookOver: Bool
    ) async -> (result: Result<Credentials, RefresherError>, withdrew: Bool) {
        defer { clearPhase(of: acquisition) }
        let span = startRefreshSpan(after: current, acquisition: acquisition, tookOver: tookOver)
        let lockLost = Flag()
        let finalWrite = Flag()
        let withdrew = Flag()
        let keeper = Task {
            await self.keepLock(acquisition, generation: current.generation, lost: lockLost, finalWrite: finalWrite)
        }
        // The keeper stops before the final write (commit or failure) starts for good, so it neither takes back a
        // lock that write gives up nor reports a lock the write itself released as lost.
        let result = await InstrumentationContext.$current.withValue(span.context) {
            await presentAndStore(
                current,
                acquisition: acquisition,
                graceElapsed: graceElapsed,
                checkSentAt: checkSentAt,
                lockLost: lockLost,
                finalWrite: finalWrite,
                withdrew: withdrew,
                span: span
            )
        }
        keeper.cancel()
        var gaveBack = false
        if withdrew.isSet {
            finalWrite.set()
            await keeper.value
            _ = setPhase(.acquired, of: acquisition, evenIfShutDown: true)
            gaveBack = await withdraw(acquisition)
        }
        endRefreshSpan(span, result: result, acquisition: acquisition)
        return (result, gaveBack)
    }

    private func presentAndStore(
        _ current: Credentials,
        acquisition: String,
        graceElapsed: Duration?,
        checkSentAt: ContinuousClock.Instant,
        lockLost: Flag,
        finalWrite: Flag,
        withdrew: Flag,
        span: any Span
    ) async -> Result<Credentials, RefresherError> {
        let generation = current.generation
        let started = ContinuousClock.now
        var attempts = RefreshAttempts(policy: retryPolicy, graceElapsed: graceElapsed, now: checkSentAt)
        logger.info(
            "refreshing",
            metadata: ["generation": "\(generation)", "in_grace": "\(graceElapsed != nil)", "lock": "\(acquisition)"]
        )
        while true {
            // No new presentation once shutdown began; a lock under which nothing was presented is given back.
            guard setPhase(.presenting, of: acquisition) else {
                if attempts.attempts == 0 && !attempts.mayHaveRotated {
                    _ = try? await store.release(owner: acquisition, reason: "shutdown")
                    return .failure(RefresherError(.shutdown, "the refresher was shut down"))
                }
                let reason = "shut down before trying again"
                return await record(
                    attempts.mayHaveRotated ? .outcomeUnknown(reason) : .notProcessed(reason),
                    current: current,
                    acquisition: acquisition,
                    started: started
                )
            }
            // The attempt is recorded before the token leaves: should this process die or lose Redis from here on,
            // nobody else presents the token outside the reuse grace.
            let result: RefreshAttempts.Result
            do {
                let (presented, replicas) = try await store.presentAcknowledged(
                    owner: acquisition,
                    generation: generation,
                    ttl: configuration.lockTTL
                )
                var unacknowledged: String?
                switch presented {
                case .recorded:
                    if let shortfall = acknowledgementShortfall(replicas, of: "the lock") {
                        metrics.unacknowledgedLocks.increment()
                        // Nothing was ever presented on this generation: give the lock and the record back and let
                        // the flight compete again. Otherwise the token may be out already: keep the lock and try
                        // again like a request that was not processed.
                        if attempts.attempts == 0 && !attempts.mayHaveRotated && graceElapsed == nil {
                            logger.info(
                                "replicas did not acknowledge the lock; giving it back",
                                metadata: ["generation": "\(generation)", "reason": "\(shortfall)"]
                            )
                            // Given back by the caller once the lock keeper has stopped (it would take it back).
                            withdrew.set()
                            return .failure(RefresherError(.lockLost, "nothing was presented: \(shortfall)"))
                        }
                        unacknowledged = shortfall
                    }
                case .lockLost:
                    return await gaveUpLock(
                        current,
                        acquisition: acquisition,
                        started: started,
                        mayHaveRotated: attempts.mayHaveRotated
                    )
                case .outcomeRecorded:
                    _ = try? await store.release(owner: acquisition, reason: "superseded")
                    return .failure(
                        FlightWaiter.failure(.unknown, reason: "another worker recorded this token's outcome")
                    )
                }
                if let unacknowledged {
                    attempts.presenting(at: .now)
                    noteAttempt(attempts.attempts, on: span)
                    result = .failed(.notProcessed(unacknowledged))
                } else {
                    // Checked after the round trip that recorded the attempt, right before the token leaves.
                    if attempts.mayHaveRotated, !attempts.insideGrace(.now) {
                        return await record(
                            .outcomeUnknown(
                                "the provider's reuse grace ended before the token could be presented again"
                            ),
                            current: current,
                            acquisition: acquisition,
                            started: started
                        )
                    }
                    attempts.presenting(at: .now)
                    noteAttempt(attempts.attempts, on: span)
                    result = await attempt(
                        current,
                        acquisition: acquisition,
                        started: started,
                        number: attempts.attempts
                    )
                }
            } catch {
                // Nothing left this process: as far as the provider knows, this attempt never happened. Not counted
                // as a presentation (a failover can take seconds, more than the attempts' backoffs add up to), but
                // the retry budget bounds a Redis that keeps failing.
                attempts.unrecorded(at: .now)
                result = .failed(.notProcessed("could not record the attempt: \(error.message)"))
            }
            let action = attempts.next(after: result, at: .now, jitter: Double.random(in: 0...1))
            if case .retry = action {} else { finalWrite.set() }
            switch action {
            case .commit(let tokens):
                return await store(
                    tokens,
                    after: current,
                    acquisition: acquisition,
                    started: started,
                    lockLost: lockLost
                )
            case .retry(let delay):
                if case .failed(let failure) = result {
                    (failure.outcome == .unknown ? metrics.inGraceRetries : metrics.notProcessedRetries).increment()
                    noteRetry(on: span, outcome: failure.outcome, attempt: attempts.attempts)
                    logger.info(
                        "refresh attempt failed; trying again",
                        metadata: [
                            "generation": "\(generation)", "outcome": "\(failure.outcome.rawValue)",
                            "reason": "\(failure.publishedReason)", "attempt": "\(attempts.attempts)",
                            "delay_ms": "\(delay.wholeMilliseconds)",
                        ]
                    )
                }
                try? await Task.sleep(for: delay)
            case .record(let failure):
                return await record(failure, current: current, acquisition: acquisition, started: started)
            }
        }
    }

    /// The policy of ``RefreshAttempts`` from the configuration.
    var retryPolicy: RefreshAttempts.Policy {
        RefreshAttempts.Policy(
            reuseGrace: configuration.identityProviderReuseGrace,
            maximumAttempts: configuration.retry.maximumAttempts,
            initialBackoff: configuration.retry.initialBackoff,
            maximumBackoff: configuration.retry.maximumBackoff,
            budget: configuration.retry.budget
        )
    }

    /// One call of the refresh function, raced against ``RefresherConfiguration/refreshTimeout``. Tokens it returns
    /// after the timeout are still stored (the fenced write decides whether they are still wanted).
    private func attempt(
        _ current: Credentials,
        acquisition: String,
        started: ContinuousClock.Instant,
        number: Int
    ) async -> RefreshAttempts.Result {
        let refresh = self.refresh
        let (outcome, work) = await race(timeout: configuration.refreshTimeout) { try await refresh(current) }
        switch outcome {
        case .some(.success(let tokens)):
            // Any answer with an access token is kept; only tokens that cannot be stored at all are not.
            if let problem = SessionRecord.unstorableReason(tokens, requireRefreshToken: false) {
                return .failed(
                    .outcomeUnknown("the refresh function returned tokens that cannot be stored: \(problem)")
                )
            }
            return .succeeded(tokens)
        case .some(.failure(let failure as RefreshFailure)):
            return .failed(failure)
        case .some(.failure(let error)):
            // Only the error's type is published: its description may hold response bodies or tokens.
            return .failed(.outcomeUnknown("refresh function threw \(type(of: error))"))
        case .none:
            // The request may still be answered: shutdown waits for it like for a holder.
            let late = "\(acquisition)/late-\(number)"
            _ = setPhase(.presenting, of: late, evenIfShutDown: true)
            // A late answer is waited for as long as the commit budget, then the request is given up (cancelled).
            let budget = configuration.commitBudget
            let watchdog = Task {
                guard (try? await Task.sleep(for: budget)) != nil else { return }
                work.cancel()
            }
            Task {
                defer {
                    watchdog.cancel()
                    self.clearPhase(of: late)
                }
                let tokens: RefreshedTokens
                do {
                    tokens = try await work.value
                } catch {
                    self.logger.info(
                        "a refresh request that timed out failed later",
                        metadata: ["generation": "\(current.generation)", "error_type": "\(type(of: error))"]
                    )
                    return
                }
                guard SessionRecord.unstorableReason(tokens, requireRefreshToken: false) == nil else { return }
                self.logger.warning(
                    "the refresh function answered after its timeout; storing its tokens",
                    metadata: ["generation": "\(current.generation)"]
                )
                _ = await self.store(
                    tokens,
                    after: current,
                    acquisition: acquisition,
                    started: started,
                    lockLost: Flag()
                )
            }
            return .failed(.outcomeUnknown("no answer within \(configuration.refreshTimeout)"))
        }
    }

    /// Extends the lock every third of its TTL until cancelled, retrying a failed extension quickly (a twelfth of
    /// the TTL) and taking the lock back if it expired while Redis was unreachable. Sets `lost` (a warning and a
    /// metric) when the lock is someone else's or the session moved on.
    private func keepLock(_ acquisition: String, generation: Int64, lost: Flag, finalWrite: Flag) async {
        let interval = configuration.lockTTL / 3
        let quickRetry = max(configuration.lockTTL / 12, .milliseconds(20))
        var delay = interval
        while true {
            guard (try? await Task.sleep(for: delay)) != nil, !finalWrite.isSet else { return }
            do {
                switch try await store.extend(owner: acquisition, ttl: configuration.lockTTL, generation: generation) {
                case .extended:
                    delay = interval
                case .reclaimed:
                    logger.info("took the lock back after it expired", metadata: ["generation": "\(generation)"])
                    delay = interval
                case .lost:
                    // The holder's final write may have released it a moment ago: that is no loss.
                    if Task.isCancelled || finalWrite.isSet { return }
                    lost.set()
                    metrics.locksLost.increment()
                    logger.warning(
                        "lost the lock while refreshing; the result will be fenced if the session moved on",
                        metadata: ["generation": "\(generation)"]
                    )
                    return
                }
            } catch {
                if error.code == .cancelled || Task.isCancelled { return }
                logger.debug("could not extend the lock; retrying soon", metadata: ["error": "\(error.message)"])
                delay = min(quickRetry, interval)
            }
        }
    }

    /// The fenced write, retried while Redis says "not now" (unreachable, loading, read-only, out of memory) and
    /// while another holder has the lock on the same generation, for up to ``RefresherConfiguration/commitBudget``:
    /// until then the new tokens exist only here. Gives up only when the session provably moved on without them.
    func store(
        _ tokens: RefreshedTokens,
        after current: Credentials,
        acquisition: String,
        started: ContinuousClock.Instant,
        lockLost: Flag
    ) async -> Result<Credentials, RefresherError> {
        let deadline = ContinuousClock.now.advanced(by: configuration.commitBudget)
        let duration = ContinuousClock.now - started
        var delay = Duration.milliseconds(50)
        var lastProblem = ""
        while true {
            do {
                let (outcome, replicas) = try await store.commitAcknowledged(
                    tokens,
                    after: current,
                    by: acquisition,
                    duration: duration
                )
                switch outcome {
                case .committed(let generation, let at):
                    let credentials = remember(
                        Credentials(
                            accessToken: tokens.accessToken,
                            refreshToken: tokens.refreshToken ?? current.refreshToken,
                            expiresAtMilliseconds: tokens.expiresAtMilliseconds,
                            generation: generation,
                            refreshedAtMilliseconds: at,
                            refreshedBy: acquisition,
                            lineage: current.lineage
                        )
                    )
                    metrics.refreshed(duration: duration)
                    logger.info(
                        "refreshed",
                        metadata: [
                            "generation": "\(generation)", "outcome": "refreshed",
                            "duration_ms": "\(duration.wholeMilliseconds)",
                        ]
                    )
                    if let shortfall = acknowledgementShortfall(replicas, of: "the new session") {
                        metrics.unacknowledgedCommits.increment()
                        logger.info(
                            "replicas did not acknowledge the new session yet; keeping its tokens",
                            metadata: ["generation": "\(generation)", "reason": "\(shortfall)"]
                        )
                        keepUntilAcknowledged(
                            tokens,
                            stored: credentials,
                            after: current,
                            acquisition: acquisition,
                            duration: duration
                        )
                    }
                    return .success(credentials)
                case .fenced(let stored, let holder, let moved):
                    metrics.fencedWrites.increment()
                    logger.info(
                        "refresh result fenced off",
                        metadata: [
                            "generation": "\(current.generation)", "stored_generation": "\(stored)",
                            "outcome": "fenced",
                            "lock_lost": "\(lockLost.isSet)", "moved": "\(moved)",
                        ]
                    )
                    if moved {
                        markStale()
                        let stored: Credentials
                        do { stored = try await storedCredentials() } catch { return .failure(error) }
                        // This holder's own commit, whose reply was lost: its acknowledgement was never seen.
                        if store.acknowledgement != nil, stored.refreshedBy == acquisition,
                            stored.generation == current.generation + 1, stored.lineage == current.lineage,
                            stored.accessToken == tokens.accessToken
                        {
                            keepUntilAcknowledged(
                                tokens,
                                stored: stored,
                                after: current,
                                acquisition: acquisition,
                                duration: duration
                            )
                        }
                        return .success(stored)
                    }
                    // Another holder on the same generation (a takeover inside the reuse grace): keep the tokens until
                    // it stores its own or gives the lock back.
                    lastProblem = "the lock is held by \(holder)"
                }
            } catch  where error.isTransientRedisFailure {
                lastProblem = error.message
            } catch {
                lastProblem = error.message
                break
            }
            guard ContinuousClock.now.advanced(by: delay) < deadline else { break }
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, .seconds(1))
        }
        metrics.commitsAbandoned.increment()
        logger.error(
            "could not store the refreshed session; the identity provider's new tokens are lost",
            metadata: [
                "generation": "\(current.generation)", "outcome": "commit_abandoned", "error": "\(lastProblem)",
                "budget": "\(configuration.commitBudget)",
            ]
        )
        return .failure(RefresherError(.redisUnavailable, "could not store the refreshed session: \(lastProblem)"))
    }

    /// Why a write is not acknowledged enough (`replicas` of the required ones), or `nil` when it is (or
    /// acknowledgement is off).
    private func acknowledgementShortfall(_ replicas: Int?, of what: String) -> String? {
        guard let replicas, let setting = store.acknowledgement?.setting, replicas < setting.replicas else {
            return nil
        }
        return "\(replicas) of \(setting.replicas) replicas acknowledged \(what) within \(setting.timeout)"
    }

    /// Gives back the lock and the attempt record of an acquisition that presented nothing, followed by a `WAIT` like
    /// the write that recorded them, so that the replicas that may hold the record get its removal too; retried
    /// through Redis trouble for up to ``RefresherConfiguration/lockTTL``. Returns whether it was given back (on the
    /// primary); if not, the flight does not compete again under this acquisition.
    private func withdraw(_ acquisition: String) async -> Bool {
        let deadline = ContinuousClock.now.advanced(by: configuration.lockTTL)
        var delay = Duration.milliseconds(50)
        while true {
            do {
                let (_, replicas) = try await store.withdraw(owner: acquisition, reason: "unacknowledged")
                if let shortfall = acknowledgementShortfall(replicas, of: "giving back the lock") {
                    logger.debug("gave back the lock", metadata: ["replicas": "\(shortfall)"])
                }
                return true
            } catch {
                guard error.isTransientRedisFailure, ContinuousClock.now.advanced(by: delay) < deadline else {
                    logger.warning(
                        "could not give back an unacknowledged lock; it expires by itself",
                        metadata: ["error": "\(error.message)"]
                    )
                    return false
                }
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(1))
            }
        }
    }

    /// Keeps `tokens` (stored as `stored`, which replicas did not acknowledge) until they do, or the session goes
    /// on: a failover to a replica that lacks them would otherwise lose the only valid refresh token. After such a
    /// failover (the session is back at `current`'s generation, or gone) the tokens are stored again. Runs in the
    /// background for up to ``RefresherConfiguration/commitBudget``; shutdown waits for it like for a request.
    private func keepUntilAcknowledged(
        _ tokens: RefreshedTokens,
        stored: Credentials,
        after current: Credentials,
        acquisition: String,
        duration: Duration
    ) {
        let phase = "\(acquisition)/unacknowledged-\(UInt32.random(in: .min ... .max))"
        _ = setPhase(.keeping, of: phase, evenIfShutDown: true)
        Task {
            defer { self.clearPhase(of: phase) }
            let deadline = ContinuousClock.now.advanced(by: configuration.commitBudget)
            var delay = Duration.milliseconds(100)
            var lastProblem = "not acknowledged yet"
            while ContinuousClock.now.advanced(by: delay) < deadline {
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(1))
                do throws(RefresherError) {
                    switch try await store.confirm(stored, by: acquisition) {
                    case .present(let replicas):
                        guard let shortfall = acknowledgementShortfall(replicas, of: "the new session") else {
                            logger.info(
                                "replicas acknowledged the new session",
                                metadata: ["generation": "\(stored.generation)"]
                            )
                            return
                        }
                        lastProblem = shortfall
                    case .moved:
                        return
                    case .lost:
                        logger.warning(
                            "the stored session went back (a failover lost it); storing the new tokens again",
                            metadata: ["generation": "\(stored.generation)"]
                        )
                        let (outcome, replicas) = try await store.commitAcknowledged(
                            tokens,
                            after: current,
                            by: acquisition,
                            duration: duration
                        )
                        switch outcome {
                        case .committed:
                            guard let shortfall = acknowledgementShortfall(replicas, of: "the new session") else {
                                return
                            }
                            lastProblem = shortfall
                        case .fenced(_, let holder, let moved):
                            if moved { return }
                            lastProblem = "the lock is held by \(holder)"
                        }
                    }
                } catch {
                    // Shut down (connections closed) before the replicas answered: nothing more can be done here.
                    if error.code == .shutdown {
                        logger.warning(
                            "shut down before replicas acknowledged the new session; a failover now may lose it",
                            metadata: ["generation": "\(stored.generation)"]
                        )
                        return
                    }
                    lastProblem = error.message
                }
            }
            metrics.commitsUnacknowledged.increment()
            logger.error(
                "replicas did not acknowledge the new session within the commit budget; a failover may still lose it",
                metadata: ["generation": "\(stored.generation)", "error": "\(lastProblem)"]
            )
        }
    }

    /// The lock is no longer this holder's (or the session moved on) before a presentation: nothing is presented.
    /// Returns the stored session when it went on; otherwise, if no earlier attempt may have used the token, a
    /// retryable ``RefresherError/Code/lockLost`` (the token is still good), else the unknown outcome is recorded.
    private func gaveUpLock(
        _ current: Credentials,
        acquisition: String,
        started: ContinuousClock.Instant,
        mayHaveRotated: Bool
    ) async -> Result<Credentials, RefresherError> {
        _ = try? await store.release(owner: acquisition, reason: "superseded")
        if let moved = await sessionMovedOn(from: current) { return .success(moved) }
        guard mayHaveRotated else {
            return .failure(RefresherError(.lockLost, "the lock was lost before the refresh token was presented"))
        }
        return await record(
            .outcomeUnknown("the lock was lost between two attempts"),
            current: current,
            acquisition: acquisition,
            started: started
        )
    }

    /// The stored session when it supersedes `current` (read from Redis), else `nil`.
    private func sessionMovedOn(from current: Credentials) async -> Credentials? {
        guard let stored = try? await store.load(), stored.supersedes(current) else { return nil }
        return remember(stored)
    }

    /// Records a failed refresh on the session (releasing the lock), retried like the commit, and turns it into the
    /// callers' error.
    private func record(
        _ failure: RefreshFailure,
        current: Credentials,
        acquisition: String,
        started: ContinuousClock.Instant
    ) async -> Result<Credentials, RefresherError> {
        let duration = ContinuousClock.now - started
        let reason = failure.publishedReason
        metrics.failed(failure.outcome, duration: duration)
        let metadata: Logger.Metadata = [
            "generation": "\(current.generation)", "outcome": "\(failure.outcome.rawValue)", "reason": "\(reason)",
            "duration_ms": "\(duration.wholeMilliseconds)",
        ]
        if failure.outcome == .unknown {
            logger.warning("refresh outcome unknown; the refresh token will not be presented again", metadata: metadata)
        } else {
            logger.info("refresh failed", metadata: metadata)
        }
        let deadline = ContinuousClock.now.advanced(by: configuration.commitBudget)
        var delay = Duration.milliseconds(50)
        while true {
            do {
                let recorded = try await store.fail(
                    failure,
                    generation: current.generation,
                    lineage: current.lineage,
                    by: acquisition
                )
                if !recorded {
                    // Nothing to record: the session went on (a late answer of this very holder, a new login)...
                    if let moved = await sessionMovedOn(from: current) { return .success(moved) }
                    // ... or another holder has the lock (it took over inside the reuse grace) and may still
                    // succeed: callers may try again and join its outcome.
                    if failure.outcome != .rejected {
                        return .failure(
                            RefresherError(.lockLost, "another worker holds the lock; its outcome decides this refresh")
                        )
                    }
                }
                break
            } catch  where error.isTransientRedisFailure && ContinuousClock.now.advanced(by: delay) < deadline {
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(1))
            } catch {
                logger.warning(
                    "could not record the failed refresh; the lock expires by itself",
                    metadata: ["error": "\(error.message)"]
                )
                break
            }
        }
        return .failure(FlightWaiter.failure(failure.outcome, reason: reason))
    }
}

/// A thread-safe boolean that only goes from false to true.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}
