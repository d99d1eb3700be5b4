extension RedisRefresher {
    /// With ``RefresherConfiguration/refreshAhead`` set: `current` when it is not yet due, `current` after starting
    /// a coordinated refresh in the background when it is due (``refreshAheadDueMilliseconds(for:)``), or (when it
    /// has already expired) the refreshed credentials after waiting for that refresh.
    ///
    /// The refresh goes through ``refreshAccessTokenOrReLogin(after:timeout:)`` like a 401 would: one refresh per
    /// generation across the fleet, whoever notices first.
    ///
    /// Inside a refresh function it never refreshes: waiting there would wait for the refresh that is running.
    func refreshingAhead(
        _ current: Credentials,
        schedule: RefreshAheadSchedule
    ) async throws(RefresherError)
        -> Credentials
    {
        guard let expiresAt = current.expiresAtMilliseconds, !Self.isRunningRefreshFunction else { return current }
        let now = UnixTime.nowMilliseconds
        guard now >= schedule.dueMilliseconds(expiresAt: expiresAt, refreshedAt: current.refreshedAtMilliseconds)
        else { return current }
        if now >= expiresAt {
            // Sending it would only earn a 401: wait for the fleet's refresh instead.
            return try await refreshAccessTokenOrReLogin(after: current)
        }
        startRefreshAhead(after: current)
        return current
    }

    /// The instant (milliseconds since the Unix epoch) from which ``credentials()`` starts a refresh ahead of
    /// `credentials`' expiry: its `expires_at` minus ``RefresherConfiguration/refreshAhead`` (at most half the
    /// token's lifetime), moved later by this session's share of ``RefresherConfiguration/refreshAheadSpread``.
    /// `nil` without refresh ahead or without a known expiry.
    package func refreshAheadDueMilliseconds(for credentials: Credentials) -> Int64? {
        guard let refreshAheadSchedule, let expiresAt = credentials.expiresAtMilliseconds else { return nil }
        return refreshAheadSchedule.dueMilliseconds(
            expiresAt: expiresAt,
            refreshedAt: credentials.refreshedAtMilliseconds
        )
    }

    /// Starts one background refresh after `current` per process (again no sooner than a poll interval after a
    /// failed one); callers keep using `current`, which is still valid, meanwhile.
    private func startRefreshAhead(after current: Credentials) {
        let now = ContinuousClock.now
        let retryAfter = configuration.pollInterval
        let start = features.withLock { features -> Bool in
            if features.aheadGeneration == current.generation, let startedAt = features.aheadStartedAt,
                features.aheadRunning || now - startedAt < retryAfter
            {
                return false
            }
            features.aheadGeneration = current.generation
            features.aheadRunning = true
            features.aheadStartedAt = now
            return true
        }
        guard start else { return }
        metrics.refreshesAhead.increment()
        logger.debug(
            "refreshing ahead of expiry",
            metadata: [
                "generation": "\(current.generation)",
                "expires_in_ms": "\((current.expiresAtMilliseconds ?? 0) - UnixTime.nowMilliseconds)",
            ]
        )
        Task {
            do throws(RefresherError) {
                _ = try await self.refreshAccessTokenOrReLogin(after: current)
            } catch {
                self.logger.debug(
                    "refresh ahead of expiry did not complete",
                    metadata: ["generation": "\(current.generation)", "error": "\(error.code)"]
                )
            }
            self.features.withLock { features in
                if features.aheadGeneration == current.generation { features.aheadRunning = false }
            }
        }
    }
}
