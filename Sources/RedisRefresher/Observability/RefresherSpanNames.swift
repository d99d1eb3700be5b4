/// The names of the spans a ``RedisRefresher`` creates through swift-distributed-tracing, of their attributes, and
/// the values of their outcome.
///
/// A refresh or a wait is traced, never a read from memory: ``RedisRefresher/credentials()`` creates no span. Spans
/// go to the tracer given to ``RedisRefresher/init(configuration:connections:logger:metricsFactory:tracer:refresh:)``
/// or, by default, to `InstrumentationSystem.tracer` (a no-op until the application bootstraps one, or scopes one
/// with `withTracer`). They are children of the span that was current in the task whose call started the refresh.
///
/// The attributes follow OpenTelemetry's naming: the refresher's own under `redis_refresher.`, and the general
/// `error.type` when a refresh or wait ends in an error. No value ever contains a token or a password.
public enum RefresherSpanNames {
    /// Span: this process holds the lock and refreshes: from the lock taken, through each call of the refresh
    /// function (the identity provider's spans are its children), to the fenced write or the recorded failure.
    public static let refresh = "redis_refresher.refresh"
    /// Span: another worker holds the lock and this process waits for its outcome (pub/sub with a polling fallback).
    public static let wait = "redis_refresher.wait"
    /// Event on a ``refresh`` span: an attempt failed and the holder tries again (attributes ``Attribute/outcome``
    /// and ``Attribute/attempts``).
    public static let retryEvent = "redis_refresher.retry"

    /// Attribute keys.
    public enum Attribute {
        /// The session name.
        public static let session = "redis_refresher.session"
        /// How the refresh or the wait ended: a ``RefresherSpanNames/Outcome`` raw value.
        public static let outcome = "redis_refresher.outcome"
        /// The generation of the credentials the refresh comes after.
        public static let generationBefore = "redis_refresher.generation.before"
        /// The generation the callers got (absent when the refresh or the wait failed).
        public static let generationAfter = "redis_refresher.generation.after"
        /// Refresh span: how many attempts the holder made (each one call of the refresh function, unless Redis
        /// could not record it first).
        public static let attempts = "redis_refresher.attempts"
        /// Refresh span: whether this process took the lock over from a holder whose lock expired.
        public static let tookOver = "redis_refresher.took_over"
        /// The lock's owner: this process's acquisition on a refresh span, the holder waited for on a wait span.
        public static let lockOwner = "redis_refresher.lock.owner"
        /// Wait span: how the wait noticed its end, `pubsub` or `poll`.
        public static let wokenBy = "redis_refresher.woken_by"
        /// Wait span: how many times the lock and the session were checked in Redis.
        public static let checks = "redis_refresher.checks"
        /// OpenTelemetry's `error.type`: the ``RefresherError/Code`` the callers got.
        public static let errorType = "error.type"
    }

    /// How a refresh or a wait ended (the value of ``Attribute/outcome``).
    public enum Outcome: String, Sendable, Hashable, CaseIterable {
        /// The session moved on: this holder stored new tokens (refresh span), or another worker did (wait span;
        /// also after a new login replaced the session).
        case refreshed
        /// Refresh span: the session moved on without this holder's tokens (the fenced write refused them); the
        /// callers got the newer session.
        case superseded
        /// The identity provider refused the refresh token: a new login is needed.
        case rejected
        /// The provider did not process the request; trying again later is safe.
        case notProcessed = "not_processed"
        /// The refresh token was presented and the answer was lost: it is not presented again.
        case unknown
        /// Wait span: the lock came free (or expired) and this process took it; a refresh span follows.
        case lockAcquired = "lock_acquired"
        /// Wait span: every waiting caller's deadline passed, so the wait was given up.
        case timeout
        /// Wait span: every waiting caller was cancelled, so the wait was given up.
        case cancelled
        /// Any other error (Redis unavailable, lock lost, shutdown): see ``Attribute/errorType``.
        case error
    }
}
