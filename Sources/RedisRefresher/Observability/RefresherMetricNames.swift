/// The labels of the metrics a ``RedisRefresher`` reports through swift-metrics.
///
/// Every metric carries the dimension `("session", <session name>)`; failures add `("kind", "rejected" |
/// "not_processed" | "unknown")` and waiter resolutions `("via", "pubsub" | "poll")`. Counters and timers are created once, when
/// the refresher is constructed, from the factory given to
/// ``RedisRefresher/init(configuration:connections:logger:metricsFactory:tracer:refresh:)`` (by default
/// `MetricsSystem.factory`).
///
/// Counts are per process: the fleet-wide totals live in the session's `stats` hash in Redis.
public enum RefresherMetricNames {
    /// Counter: refreshes this process performed and stored (as the lock holder).
    public static let refreshes = "redis_refresher_refreshes"
    /// Counter: refreshes this process performed that failed, by `kind` (`rejected`: re-login required;
    /// `not_processed`: the provider did not process the request, retrying is safe; `unknown`: the answer was lost
    /// outside the provider's reuse grace).
    public static let failures = "redis_refresher_failures"
    /// Counter: in-process refreshes that found another worker holding the lock and waited for its outcome.
    public static let waits = "redis_refresher_waits"
    /// Counter: waits that ended, by how the outcome was noticed, `via` `pubsub` (the events channel woke the
    /// waiter) or `poll` (the polling fallback).
    public static let resolutions = "redis_refresher_waiter_resolutions"
    /// Timer: for a waiter that got another worker's new session, the time from that session's commit (Redis
    /// `TIME`) to the moment this process had it.
    public static let wakeUpLatency = "redis_refresher_wakeup_latency"
    /// Counter: locks this process took over after the previous holder's lock expired (a crashed or paused holder).
    public static let takeovers = "redis_refresher_lock_takeovers"
    /// Counter: refreshed sessions this process could not store because the fenced write found the session moved
    /// on or the lock taken by someone else.
    public static let fencedWrites = "redis_refresher_fenced_writes"
    /// Counter: callers whose deadline passed before fresh credentials were available.
    public static let timeouts = "redis_refresher_timeouts"
    /// Timer: how long the refresh function took, for refreshes this process performed (stored or failed).
    public static let refreshDuration = "redis_refresher_refresh_duration"
    /// Counter: proactive refreshes started because the cached credentials were within
    /// ``RefresherConfiguration/refreshAhead`` of their expiry.
    public static let refreshesAhead = "redis_refresher_refreshes_ahead"
    /// Counter: refresh attempts the holder made again: after a not-processed answer, or inside the provider's
    /// reuse grace after an answer was lost; by `reason` (`not_processed`, `in_grace`).
    public static let retries = "redis_refresher_refresh_retries"
    /// Counter: locks this process lost while it was refreshing (an extension found the lock gone and could not
    /// take it back, or someone else's).
    public static let locksLost = "redis_refresher_locks_lost"
    /// Counter: new tokens this process could not store within ``RefresherConfiguration/commitBudget`` (each is
    /// logged at error level): the provider's answer is lost unless the operator stores it by hand.
    public static let commitsAbandoned = "redis_refresher_commits_abandoned"
    /// Counter: holder writes that fewer replicas acknowledged than ``ReplicaAcknowledgement/replicas`` asks, by
    /// `write`: `lock` (the lock was given back before anything was presented) or `commit` (the holder kept the new
    /// tokens and checked again).
    public static let unacknowledgedWrites = "redis_refresher_unacknowledged_writes"
    /// Counter: new sessions that replicas had still not acknowledged when ``RefresherConfiguration/commitBudget``
    /// ran out (logged at error level): a failover of the primary now could lose them.
    public static let commitsUnacknowledged = "redis_refresher_commits_unacknowledged"
    /// Counter: shutdowns that left a lock to expire because a refresh request may still have been in flight.
    public static let locksLeftOnShutdown = "redis_refresher_locks_left_on_shutdown"
}
