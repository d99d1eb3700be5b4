import Logging
import RedisClient
import Synchronization
import Tracing

extension RedisRefresher {
    /// The work of one flight: check, then either use the newer session, refresh as the lock holder, or wait for
    /// the holder's outcome (pub/sub) while polling every `pollInterval`. The decisions are ``FlightWaiter``'s.
    func run(_ flight: Flight) async {
        let mailbox = Mailbox<RefresherEvent>()
        // Listen before the first check, so an outcome published after the check is never missed.
        let pubSub = configuration.wakeUp == .pubSub
        let handlerID = connections.hub.addHandler(channel: keys.events) { event in
            if pubSub { mailbox.post(event) }
        }
        // One acquisition id for the whole flight: a check sent again after its reply was lost recognises the lock
        // it may have taken.
        let acquisition = connections.nextAcquisitionID()
        defer {
            connections.hub.removeHandler(handlerID, channel: keys.events)
            forget(flight)
            releaseIfStillChecking(acquisition)
        }
        var waiter = FlightWaiter(
            generation: flight.generation,
            pollInterval: configuration.pollInterval,
            pubSub: pubSub
        )
        // How often replicas did not acknowledge this flight's lock (it backs off longer each time).
        var withdrawals = 0
        // Started when a check first finds another worker's lock; ended with what the callers got.
        var waitSpan: (any Span)?
        defer {
            if let waitSpan {
                endWaitSpan(
                    waitSpan,
                    result: flight.result,
                    abandonedBy: flight.abandonedBy,
                    checks: waiter.checks,
                    wokenBy: waiter.wokenBy
                )
            }
        }
        while true {
            if Task.isCancelled || flight.isAbandoned {
                flight.finish(.failure(RefresherError(.cancelled, "abandoned")))
                return
            }
            // Registered before it is sent: shutdown must release a lock this check may take, even if its reply is
            // never handled.
            guard setPhase(.checking, of: acquisition) else {
                flight.finish(.failure(RefresherError(.shutdown, "the refresher was shut down")))
                return
            }
            let request = SessionStore.CheckRequest(
                acquisition: acquisition,
                lockTTL: configuration.lockTTL,
                generation: flight.generation,
                lineage: flight.lineage,
                takeover: waiter.takeover,
                countWait: waiter.isFirstCheck,
                waitingSince: waiter.waitingSince,
                reuseGrace: configuration.identityProviderReuseGrace,
                attemptHorizon: configuration.attemptHorizon
            )
            // Once sent, a check may take the lock on the server whatever happens here: it runs in a task of its
            // own, so cancelling this flight (every caller gave up) cannot drop its answer.
            let store = self.store
            let checkSentAt = ContinuousClock.now
            let checked = await Task { await store.checkResult(request) }.value
            let step: FlightWaiter.Step
            switch checked {
            case .success(let outcome):
                let wasFirst = waiter.isFirstCheck
                step = waiter.after(outcome, subscribed: connections.hub.isSubscribed(to: keys.events))
                if case .hold = step {
                    _ = setPhase(.acquired, of: acquisition, evenIfShutDown: true)
                } else {
                    clearPhase(of: acquisition)
                }
                if case .held(let holder, _, _) = outcome {
                    if wasFirst {
                        metrics.waits.increment()
                        logger.debug("waiting for another worker's refresh", metadata: ["holder": "\(holder)"])
                    }
                    if let waitSpan {
                        // Another worker may have taken the lock over meanwhile.
                        noteHolder(holder, on: waitSpan)
                    } else {
                        waitSpan = startWaitSpan(after: flight.generation, holder: holder)
                    }
                }
            case .failure(let error) where error.isTransientRedisFailure:
                // The reply may be lost after the script ran: the phase stays `checking` until a check answers.
                flight.note(problem: error.message)
                logger.debug("check failed; will retry", metadata: ["error": "\(error.message)"])
                step = waiter.afterUnavailable()
            case .failure(let error):
                step = .finish(.failure(error))
            }
            switch step {
            case .finish(.success(let stored))
            where stored.lineage == flight.lineage && stored.generation < flight.generation:
                // Redis went backwards (a failover with replication lag, a restore): its refresh token was already
                // used, the callers' newer one is the valid one. Put the newer session back and check again, or,
                // without a copy of it here, record the stored token's outcome as unknown: never present it again.
                if await repairWentBack(stored, acquisition: acquisition) { continue }
                finish(
                    flight,
                    with: .failure(
                        FlightWaiter.failure(.unknown, reason: "Redis went back to a generation already refreshed")
                    ),
                    wokenBy: waiter.wokenBy
                )
                return
            case .finish(let result):
                finish(flight, with: result, wokenBy: waiter.wokenBy)
                return
            case .hold(let credentials, let graceElapsed):
                if flight.isAbandoned {
                    // Every caller left while the lock was being taken: give it back (publishing `released`, so
                    // other workers compete at once) instead of refreshing for nobody.
                    let store = self.store
                    _ = await Task {
                        try? await store.release(owner: acquisition, reason: "abandoned")
                    }.value
                    clearPhase(of: acquisition)
                    flight.finish(.failure(RefresherError(.cancelled, "abandoned")))
                    return
                }
                flight.markHolding()
                if let span = waitSpan {
                    endWaitSpanWithLock(span, checks: waiter.checks)
                    waitSpan = nil
                }
                if waiter.tookOver {
                    metrics.takeovers.increment()
                    logger.info("took over an expired lock", metadata: ["generation": "\(flight.generation)"])
                }
                // The holder's work runs in a task of its own: it must finish (store, record or release) even if
                // this flight's task was cancelled in the meantime.
                let tookOver = waiter.tookOver
                let holding = Task {
                    await self.refreshAsHolder(
                        credentials,
                        acquisition: acquisition,
                        graceElapsed: graceElapsed,
                        checkSentAt: checkSentAt,
                        tookOver: tookOver
                    )
                }
                let (result, withdrew) = await holding.value
                guard withdrew else {
                    flight.finish(result)
                    return
                }
                // Replicas did not acknowledge the lock, and it was given back: back off, then compete again.
                if case .failure(let error) = result { flight.note(problem: error.message) }
                waiter.gaveBackLock()
                withdrawals += 1
                let backoff = min(Duration.milliseconds(100) * (1 << min(withdrawals, 5)), configuration.pollInterval)
                try? await Task.sleep(for: backoff * Double.random(in: 0.5...1))
            case .wait(let duration):
                let event = await mailbox.next(timeout: duration)
                if case .finish(let result) = waiter.woke(event) {
                    finish(flight, with: result, wokenBy: .pubSub)
                    return
                }
            }
        }
    }

    /// Redis holds `stored`, older than a generation this process's callers hold: writes the cached newer session
    /// back (true: check again), else records `stored`'s token as of unknown outcome (false).
    private func repairWentBack(_ stored: Credentials, acquisition: String) async -> Bool {
        let newer = state.withLock { $0.cache.current }
        if let newer, newer.lineage == stored.lineage, newer.generation > stored.generation,
            (try? await store.restore(newer, over: stored, by: acquisition)) == true
        {
            logger.warning(
                "Redis went back to an older generation; wrote this process's newer session back",
                metadata: ["generation": "\(newer.generation)", "stored_generation": "\(stored.generation)"]
            )
            return true
        }
        logger.warning(
            "Redis went back to a generation already refreshed; its refresh token is not presented again",
            metadata: ["stored_generation": "\(stored.generation)"]
        )
        _ = try? await store.fail(
            .outcomeUnknown("Redis went back to a generation already refreshed"),
            generation: stored.generation,
            lineage: stored.lineage,
            by: acquisition
        )
        return false
    }

    private func finish(
        _ flight: Flight,
        with result: Result<Credentials, RefresherError>,
        wokenBy: RefresherMetrics.Wake?
    ) {
        switch result {
        case .success(let credentials):
            let current = remember(credentials)
            metrics.resolved(via: wokenBy, with: current)
            flight.finish(.success(current))
        case .failure(let error):
            if [.reloginRequired, .outcomeUnknown, .refreshFailed].contains(error.code) {
                metrics.resolved(via: wokenBy, with: nil)
            }
            flight.finish(.failure(error))
        }
    }

    // MARK: - Acquisitions, for shutdown

    /// Sets the phase of an acquisition; refuses (returns false) once shutdown began, unless `evenIfShutDown`.
    func setPhase(_ phase: HolderPhase, of acquisition: String, evenIfShutDown: Bool = false) -> Bool {
        state.withLock { state in
            if state.isShutDown && !evenIfShutDown { return false }
            state.holders[acquisition] = phase
            return true
        }
    }

    func clearPhase(of acquisition: String) {
        _ = state.withLock { $0.holders.removeValue(forKey: acquisition) }
    }

    /// A flight that ends while its last check's reply was lost may hold the lock: give it back (owner-checked).
    private func releaseIfStillChecking(_ acquisition: String) {
        let checking = state.withLock { state -> Bool in
            guard state.holders[acquisition] == .checking else { return false }
            state.holders[acquisition] = nil
            return true
        }
        guard checking else { return }
        let store = self.store
        Task { _ = try? await store.release(owner: acquisition, reason: "abandoned") }
    }
}
