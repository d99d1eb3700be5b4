#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A connected byte stream under a ``RedisWire``: a plain socket or TLS over one.
///
/// Every method is non-blocking and called on the connection's I/O thread only. An operation that cannot make
/// progress returns ``TransportResult/wouldBlock(_:)`` with the socket readiness it waits for, which is not
/// always its own direction: TLS may need to write while reading, or read while writing.
protocol Transport: AnyObject {
    /// The socket, for `poll`.
    var fileDescriptor: Int32 { get }

    /// Whether received bytes wait inside the transport (decrypted or buffered TLS records) where `poll` cannot
    /// see them: the reader must keep reading before it polls again.
    var hasBufferedInput: Bool { get }

    /// Advances the transport's own handshake; `nil` when it is complete.
    func handshake() throws(RedisError) -> TransportWait?

    /// Reads at most `buffer.count` bytes into `buffer`.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(RedisError) -> TransportResult

    /// Writes a prefix of `bytes`. After ``TransportResult/wouldBlock(_:)`` the next call must start with the
    /// same bytes (it may pass more).
    func write(_ bytes: UnsafeRawBufferPointer) throws(RedisError) -> TransportResult
}

/// The outcome of one ``Transport`` read or write.
enum TransportResult: Equatable {
    /// That many bytes moved (more than zero).
    case transferred(Int)
    /// Nothing moved; retry once the socket is ready for the given direction.
    case wouldBlock(TransportWait)
    /// The peer closed the stream cleanly.
    case closed
}

/// The socket readiness an operation waits for.
enum TransportWait: Equatable {
    case readable
    case writable

    /// The `poll` event for this readiness.
    var pollEvent: Int16 {
        switch self {
        case .readable: Int16(POLLIN)
        case .writable: Int16(POLLOUT)
        }
    }
}
