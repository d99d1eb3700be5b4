import RedisClient

/// An error from the refresher.
///
/// ``Code/reloginRequired`` means the identity provider rejected the refresh token: nobody in the fleet can
/// refresh this session any more, a user must log in again (``RedisRefresher/replaceSession(_:)``).
/// ``isRetryable`` tells whether trying again later may help. Messages never contain tokens.
public struct RefresherError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case reloginRequired, refreshFailed, timeout, redisUnavailable, redisError, noSession, corruptSession
            case invalidConfiguration, lockLost, shutdown, cancelled, outcomeUnknown
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The identity provider rejected the refresh token (e.g. `invalid_grant`): log in again.
        public static let reloginRequired = Code(.reloginRequired)
        /// The refresh failed without using up the refresh token (the provider did not process it): trying again
        /// may succeed.
        public static let refreshFailed = Code(.refreshFailed)
        /// The refresh token was presented and the answer was lost (timeout, reset, gateway error), outside the
        /// identity provider's reuse grace: the provider may have rotated it, so nobody presents it again. A fresh
        /// login (``RedisRefresher/replaceSession(_:)``, `refresher session put`) moves the session on.
        public static let outcomeUnknown = Code(.outcomeUnknown)
        /// The caller's deadline passed before fresh credentials were available.
        public static let timeout = Code(.timeout)
        /// Redis could not be reached or did not answer in time.
        public static let redisUnavailable = Code(.redisUnavailable)
        /// Redis answered with an error (wrong key type, missing ACL permission, ...).
        public static let redisError = Code(.redisError)
        /// No session is stored under this name: seed one first.
        public static let noSession = Code(.noSession)
        /// The stored session hash is missing fields or holds values that do not parse.
        public static let corruptSession = Code(.corruptSession)
        /// A configuration or argument value is invalid.
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// This worker refreshed, but lost the lock before it could store the result.
        public static let lockLost = Code(.lockLost)
        /// The refresher was shut down.
        public static let shutdown = Code(.shutdown)
        /// The calling task was cancelled.
        public static let cancelled = Code(.cancelled)

        public var description: String { base.rawValue }
    }

    /// The kind of failure.
    public var code: Code
    /// A description without secrets.
    public var message: String
    /// The Redis client's error this one comes from, if any (its code tells a refused connection from a server
    /// reply such as `LOADING` or `READONLY`).
    public var redisError: RedisError? {
        get { underlying?.error }
        set { underlying = newValue.map(Underlying.init) }
    }
    /// Boxed: an error is carried in every throwing frame, and 10,000 waiting callers are a design point.
    private var underlying: Underlying?

    /// Immutable, so sharing it between copies and threads is safe.
    private final class Underlying: Sendable {
        let error: RedisError
        init(_ error: RedisError) { self.error = error }
    }

    public init(_ code: Code, _ message: String, redisError: RedisError? = nil) {
        self.code = code
        self.message = message
        self.underlying = redisError.map(Underlying.init)
    }

    public static func == (lhs: RefresherError, rhs: RefresherError) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message && lhs.redisError == rhs.redisError
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(message)
        hasher.combine(redisError)
    }

    /// Whether a write that failed this way may succeed if sent again soon: Redis unreachable, or a server reply
    /// that says "not now" (`LOADING`, `BUSY`, `READONLY`, `TRYAGAIN`, `OOM`, `MASTERDOWN`, `CLUSTERDOWN`,
    /// `NOREPLICAS`).
    var isTransientRedisFailure: Bool {
        if code == .redisUnavailable { return true }
        guard let redisError, redisError.code == .server else { return false }
        let word = redisError.message.prefix { $0 != " " }
        return ["LOADING", "BUSY", "READONLY", "TRYAGAIN", "OOM", "MASTERDOWN", "CLUSTERDOWN", "NOREPLICAS"]
            .contains(word)
    }

    /// Whether trying again later may succeed (everything but re-login, bad configuration, corrupt data,
    /// missing session and shutdown).
    public var isRetryable: Bool {
        switch code {
        case .refreshFailed, .timeout, .redisUnavailable, .lockLost: true
        default: false
        }
    }

    public var description: String { "RefresherError(\(code)): \(message)" }

    /// Maps a client error: connection problems are ``Code/redisUnavailable``, server replies ``Code/redisError``.
    init(redis error: RedisError) {
        switch error.code {
        case .server: self.init(.redisError, "Redis refused: \(error.message)", redisError: error)
        // A wrong password or an unknown ACL user is a configuration problem: retrying does not help.
        case .authenticationFailed:
            self.init(.redisError, "Redis refused the credentials: \(error.message)", redisError: error)
        case .cancelled: self.init(.cancelled, "cancelled", redisError: error)
        case .clientClosed: self.init(.shutdown, "the Redis connection was closed", redisError: error)
        case .invalidURL, .invalidConfiguration: self.init(.invalidConfiguration, error.message, redisError: error)
        default: self.init(.redisUnavailable, "Redis unavailable: \(error.message)", redisError: error)
        }
    }
}

/// What a refresh function throws to say how a refresh attempt failed: one of the three failed outcomes of an
/// attempt (the fourth is success: the function returns tokens).
///
/// | outcome | meaning | what the lock holder does |
/// |---|---|---|
/// | ``Outcome/rejected`` | the provider refused the refresh token (`invalid_grant`) | records it; every caller fails at once with ``RefresherError/Code/reloginRequired`` |
/// | ``Outcome/notProcessed`` | the request never reached the provider, or the provider said it did not process it | retries with backoff while it keeps the lock, within a budget |
/// | ``Outcome/unknown`` | sent, but no usable answer (a timeout or reset after writing, a 502/504) | retries only inside ``RefresherConfiguration/identityProviderReuseGrace``; otherwise records it and every caller fails with ``RefresherError/Code/outcomeUnknown`` |
///
/// Any other error a refresh function throws counts as ``Outcome/unknown``: when in doubt, the refresh token is
/// never presented again. The reason is published to the fleet: keep it short and never put a token in it.
public struct RefreshFailure: Error, Sendable, Hashable, CustomStringConvertible {
    /// How a failed refresh attempt ended.
    public enum Outcome: String, Sendable, Hashable, CaseIterable {
        /// The refresh token was refused: the session needs a new login.
        case rejected
        /// The provider did not process the request: the refresh token is still good, trying again is safe.
        case notProcessed = "not_processed"
        /// The provider may have processed the request (and rotated the refresh token): presenting the same token
        /// again is reuse, unless the provider's reuse grace allows it.
        case unknown
    }

    /// How the attempt ended.
    public let outcome: Outcome
    /// A short reason, such as `invalid_grant` or `HTTP 503`.
    public let reason: String

    /// Whether the refresh token was rejected.
    public var isRejected: Bool { outcome == .rejected }

    /// A failure with an explicit outcome.
    public init(_ outcome: Outcome, _ reason: String) {
        self.outcome = outcome
        self.reason = reason
    }

    /// The refresh token was rejected: re-login required.
    public static func rejected(_ reason: String) -> RefreshFailure { RefreshFailure(.rejected, reason) }
    /// The request never reached the provider, or the provider answered that it did not process it (connection
    /// refused, DNS, TLS handshake, an error before writing; RFC 6749 `temporarily_unavailable`, a 503).
    public static func notProcessed(_ reason: String) -> RefreshFailure { RefreshFailure(.notProcessed, reason) }
    /// The request was sent and no usable answer came back: the provider may have rotated the refresh token.
    public static func outcomeUnknown(_ reason: String) -> RefreshFailure { RefreshFailure(.unknown, reason) }
    /// A failure that may pass, of unknown outcome: the same as ``outcomeUnknown(_:)``. Prefer the explicit
    /// ``notProcessed(_:)`` when the request provably never reached the provider.
    public static func transient(_ reason: String) -> RefreshFailure { RefreshFailure(.unknown, reason) }

    public var description: String { "RefreshFailure(\(outcome.rawValue)): \(reason)" }
}
