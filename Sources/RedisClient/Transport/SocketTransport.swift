import CHiredis

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A plain TCP or Unix socket; owns (and closes) its descriptor.
final class SocketTransport: Transport {
    let fileDescriptor: Int32

    /// Takes ownership of a connected, non-blocking socket.
    init(fileDescriptor: Int32) {
        self.fileDescriptor = fileDescriptor
    }

    deinit { close(fileDescriptor) }

    var hasBufferedInput: Bool { false }

    func handshake() throws(RedisError) -> TransportWait? { nil }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(RedisError) -> TransportResult {
        while true {
            let count = recv(fileDescriptor, buffer.baseAddress, buffer.count, 0)
            if count > 0 { return .transferred(count) }
            if count == 0 { return .closed }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock(.readable)
            default: throw Socket.ioError(errno)
            }
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(RedisError) -> TransportResult {
        while true {
            // MSG_NOSIGNAL: a write to a socket the server closed fails with EPIPE instead of raising SIGPIPE.
            let count = send(fileDescriptor, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
            if count >= 0 { return count == 0 ? .wouldBlock(.writable) : .transferred(count) }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock(.writable)
            case EPIPE, ECONNRESET: throw RedisError(.connectionClosed, "the server closed the connection")
            default: throw Socket.ioError(errno)
            }
        }
    }
}
