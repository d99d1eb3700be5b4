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
            case invalidConfiguration, lockLost, shutdown, cancelled
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The identity provider rejected the refresh token (e.g. `invalid_grant`): log in again.
        public static let reloginRequired = Code(.reloginRequired)
        /// The refresh failed for a reason that may pass (network error, 5xx, refresh timeout).
        public static let refreshFailed = Code(.refreshFailed)
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

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
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
        case .server: self.init(.redisError, "Redis refused: \(error.message)")
        // A wrong password or an unknown ACL user is a configuration problem: retrying does not help.
        case .authenticationFailed: self.init(.redisError, "Redis refused the credentials: \(error.message)")
        case .cancelled: self.init(.cancelled, "cancelled")
        case .clientClosed: self.init(.shutdown, "the Redis connection was closed")
        case .invalidURL, .invalidConfiguration: self.init(.invalidConfiguration, error.message)
        default: self.init(.redisUnavailable, "Redis unavailable: \(error.message)")
        }
    }
}

/// What a refresh function throws to say how the refresh failed.
///
/// Throw ``rejected(_:)`` when the identity provider refused the refresh token (`invalid_grant`, 400/401): the
/// session is dead and every waiter fails at once with ``RefresherError/Code/reloginRequired``. Throw
/// ``transient(_:)`` (or any other error) for failures that may pass. The reason is published to the fleet:
/// keep it short and never put a token in it.
public struct RefreshFailure: Error, Sendable, Hashable {
    /// Whether the refresh token was rejected.
    public let isRejected: Bool
    /// A short reason, such as `invalid_grant` or `HTTP 503`.
    public let reason: String

    /// The refresh token was rejected: re-login required.
    public static func rejected(_ reason: String) -> RefreshFailure { RefreshFailure(isRejected: true, reason: reason) }
    /// A failure that may pass.
    public static func transient(_ reason: String) -> RefreshFailure {
        RefreshFailure(isRejected: false, reason: reason)
    }
}
