/// An error from the Redis client.
///
/// Errors are a struct with an extensible ``Code`` (valkey-swift style) so new kinds can be added without breaking
/// exhaustive switches. ``Code/server`` carries the server's `-ERR ...` text; every other code is a client-side,
/// connection or protocol failure. Messages never contain command arguments, so no secret leaks through an error.
public struct RedisError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case server, invalidURL, invalidConfiguration, connectionFailed, authenticationFailed, connectionClosed
            case io, timeout, protocolError, cancelled, clientClosed, tlsFailed, moved
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The server answered with an error reply (`-ERR`, `-WRONGTYPE`, `-NOSCRIPT`, ...).
        public static let server = Code(.server)
        /// A connection URL could not be parsed.
        public static let invalidURL = Code(.invalidURL)
        /// A configuration value is out of range.
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// The TCP or Unix connection could not be established (unknown host, refused, connect timeout).
        public static let connectionFailed = Code(.connectionFailed)
        /// The TLS handshake failed (certificate verification, a server that requires a client certificate, a
        /// server that does not speak TLS) or the TLS settings could not be loaded.
        public static let tlsFailed = Code(.tlsFailed)
        /// AUTH or SELECT was rejected during the handshake.
        public static let authenticationFailed = Code(.authenticationFailed)
        /// The server closed the connection.
        public static let connectionClosed = Code(.connectionClosed)
        /// A read or write on the socket failed.
        public static let io = Code(.io)
        /// The server did not answer within the command timeout.
        public static let timeout = Code(.timeout)
        /// The reply could not be parsed, or had an unexpected shape.
        public static let protocolError = Code(.protocolError)
        /// The calling task was cancelled before the reply arrived.
        public static let cancelled = Code(.cancelled)
        /// The client was closed.
        public static let clientClosed = Code(.clientClosed)
        /// A cluster node stopped serving a sharded subscription's channel (its slot moved, or `MOVED` answered the
        /// `SSUBSCRIBE`) before the subscription was confirmed: subscribing again reaches the node that serves it.
        public static let moved = Code(.moved)

        public var description: String { base.rawValue }
    }

    /// The kind of failure.
    public var code: Code
    /// A human-readable message; for ``Code/server`` the server's error text.
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// For server errors, the error prefix such as `ERR`, `WRONGTYPE` or `NOSCRIPT`.
    public var serverErrorPrefix: Substring? {
        guard code == .server else { return nil }
        return message.split(separator: " ", maxSplits: 1).first
    }

    /// Whether the failure was the connection's (as opposed to an answer from the server): such a command may be
    /// retried on a new connection when it is idempotent.
    public var isConnectionError: Bool {
        code == .connectionFailed || code == .connectionClosed || code == .io || code == .timeout
            || code == .tlsFailed
    }

    public var description: String { "RedisError(\(code)): \(message)" }
}
