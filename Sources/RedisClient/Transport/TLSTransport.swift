import COpenSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// TLS over a connected socket, with OpenSSL driving the socket directly (non-blocking).
///
/// Verification (unless ``RedisConfiguration/TLS/insecureSkipVerify``): the certificate must chain to a trusted CA
/// and name the expected host, a DNS name (also sent as SNI) or an IP address (matched against the certificate's IP
/// entries, never sent as SNI).
final class TLSTransport: Transport {
    private let socket: SocketTransport
    private let ssl: OpaquePointer
    private let peer: String
    private let expectedName: String
    /// Verification is off: the chain's verify result is recorded anyway but is not why a handshake failed.
    private let skipsVerification: Bool

    /// Wraps `socket` (taking ownership) for a TLS client handshake with `host`, described as `peer` in errors.
    init(socket: SocketTransport, context: TLSClientContext, host: String, peer: String) throws(RedisError) {
        // SSL_get_error reads the thread's error queue: it must start empty (every failure below drains it).
        ERR_clear_error()
        guard let ssl = SSL_new(context.raw) else { throw TLSErrors.failure("cannot create a TLS session") }
        self.socket = socket
        self.ssl = ssl
        self.peer = peer
        self.expectedName = context.settings.serverName ?? host
        self.skipsVerification = context.settings.insecureSkipVerify
        guard SSL_set_fd(ssl, socket.fileDescriptor) == 1 else { throw TLSErrors.failure("cannot attach the socket") }
        SSL_set_connect_state(ssl)
        let isAddress = Self.isIPAddress(expectedName)
        if !isAddress, copenssl_set_server_name(ssl, expectedName) != 1 {
            throw TLSErrors.failure("cannot set the server name \(expectedName)")
        }
        if !context.settings.insecureSkipVerify {
            let status =
                isAddress ? copenssl_set_expected_ip(ssl, expectedName) : SSL_set1_host(ssl, expectedName)
            guard status == 1 else { throw TLSErrors.failure("cannot require the name \(expectedName)") }
        }
    }

    deinit { SSL_free(ssl) }

    var fileDescriptor: Int32 { socket.fileDescriptor }

    /// Decrypted bytes only: `SSL_has_pending` also counts a record that has only partly arrived, and treating that
    /// as readable would spin the loop (poll with no timeout, `SSL_read` wants more) until the rest comes.
    var hasBufferedInput: Bool { SSL_pending(ssl) > 0 }

    // Each operation starts with an empty error queue: `SSL_get_error` reads the thread's queue, and a stale entry
    // would turn a harmless "would block" into a failure.

    func handshake() throws(RedisError) -> TransportWait? {
        ERR_clear_error()
        let status = SSL_connect(ssl)
        if status == 1 { return nil }
        switch try outcome(of: status) {
        case .wouldBlock(let wait): return wait
        case .closed, .transferred:
            throw RedisError(
                .tlsFailed,
                "TLS handshake with \(peer) failed: the server closed the connection (is this a TLS port?)"
            )
        }
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(RedisError) -> TransportResult {
        ERR_clear_error()
        let count = SSL_read(ssl, buffer.baseAddress, Int32(clamping: buffer.count))
        return count > 0 ? .transferred(Int(count)) : try outcome(of: count)
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(RedisError) -> TransportResult {
        ERR_clear_error()
        let count = SSL_write(ssl, bytes.baseAddress, Int32(clamping: bytes.count))
        return count > 0 ? .transferred(Int(count)) : try outcome(of: count)
    }

    /// What a non-positive return of `SSL_connect`, `SSL_read` or `SSL_write` means.
    private func outcome(of status: Int32) throws(RedisError) -> TransportResult {
        let savedErrno = errno
        switch SSL_get_error(ssl, status) {
        case SSL_ERROR_WANT_READ: return .wouldBlock(.readable)
        case SSL_ERROR_WANT_WRITE: return .wouldBlock(.writable)
        case SSL_ERROR_ZERO_RETURN: return .closed
        case SSL_ERROR_SYSCALL:
            let reasons = TLSErrors.drain()
            if savedErrno == 0 || savedErrno == EPIPE || savedErrno == ECONNRESET {
                if reasons.isEmpty { return .closed }
            }
            if savedErrno != 0 { throw Socket.ioError(savedErrno) }
            throw RedisError(.tlsFailed, "TLS error with \(peer): \(reasons.joined(separator: "; "))")
        default:
            throw failure()
        }
    }

    /// The one-line error for a failed TLS operation (`SSL_ERROR_SSL`).
    private func failure() -> RedisError {
        let entries = TLSErrors.drainCodes()
        let verification = Int32(truncatingIfNeeded: SSL_get_verify_result(ssl))
        let prefix = "TLS handshake with \(peer) failed"
        if verification != X509_V_OK && !skipsVerification {
            let reason = String(cString: X509_verify_cert_error_string(Int(verification)))
            let hint: String
            switch verification {
            case X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH:
                hint = " (the certificate is not for \(expectedName); server_name sets the name to expect)"
            case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN,
                X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
                hint = " (ca_file or ca_dir sets the CA to trust)"
            default: hint = ""
            }
            return RedisError(.tlsFailed, "\(prefix): certificate verify failed: \(reason)\(hint)")
        }
        if entries.contains(where: { $0.reason == copenssl_reason_certificate_required() }) {
            return RedisError(
                .tlsFailed,
                "\(prefix): the server requires a client certificate (set cert_file and key_file)"
            )
        }
        if entries.contains(where: { $0.reason == copenssl_reason_wrong_version_number() }) {
            return RedisError(
                .tlsFailed,
                "\(prefix): the server does not speak TLS (wrong version number); is it a plaintext port?"
            )
        }
        let reasons = entries.map(\.text)
        return RedisError(
            .tlsFailed,
            "\(prefix): \(reasons.isEmpty ? "unknown TLS error" : reasons.joined(separator: "; "))"
        )
    }

    /// Whether `name` is an IPv4 or IPv6 literal.
    private static func isIPAddress(_ name: String) -> Bool {
        var address = in6_addr()
        return inet_pton(AF_INET, name, &address) == 1 || inet_pton(AF_INET6, name, &address) == 1
    }
}
