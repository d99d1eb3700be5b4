import AsyncHTTPClient
import NIOCore
import RedisRefresher
import Testing

@testable import RedisRefresherHTTP

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension HTTPIntegration {
    /// The transport errors a local server cannot easily produce, classified directly. (The ones it can, a refused
    /// connection, a failed TLS handshake, a DNS failure, a deadline, are in the grant's and the cookie refresh's
    /// tests.)
    @Suite("Transport errors")
    struct TransportErrorTests {
        static let beforeWritingErrors: [any Error & Sendable] = [
            HTTPClientError.connectTimeout, HTTPClientError.tlsHandshakeTimeout,
            HTTPClientError.getConnectionFromPoolTimeout, HTTPClientError.socksHandshakeTimeout,
            HTTPClientError.httpProxyHandshakeTimeout, HTTPClientError.proxyAuthenticationRequired,
            HTTPClientError.invalidURL, HTTPClientError.alreadyShutdown, HTTPClientError.unsupportedScheme("ftp"),
            HTTPClientError.invalidHeaderFieldValues(["secret-value"]),
            IOError(errnoCode: ECONNREFUSED, reason: "connection reset (error set)"),
            IOError(errnoCode: ENETUNREACH, reason: "connect(descriptor:addr:size:)"),
            IOError(errnoCode: EHOSTUNREACH, reason: "finishing a non-blocking connect failed"),
            ChannelError.connectTimeout(.seconds(1)),
        ]

        static let afterWritingErrors: [any Error & Sendable] = [
            HTTPClientError.readTimeout, HTTPClientError.writeTimeout, HTTPClientError.deadlineExceeded,
            HTTPClientError.remoteConnectionClosed, HTTPClientError.cancelled, HTTPClientError.uncleanShutdown,
            HTTPClientError.bodyLengthMismatch, HTTPClientError.redirectLimitReached,
            HTTPClientError.internalStateFailure(),
            IOError(errnoCode: ECONNRESET, reason: "read(descriptor:pointer:size:)"),
            IOError(errnoCode: EHOSTUNREACH, reason: "connection reset (error set)"),
            IOError(errnoCode: EPIPE, reason: "write(descriptor:pointer:size:)"),
            ChannelError.eof, ChannelError.ioOnClosedChannel, CancellationError(), SomeError(),
        ]

        @Test("Errors raised before the request is written are not processed", arguments: beforeWritingErrors)
        func beforeWriting(error: any Error & Sendable) {
            let failure = RefreshFailures.transport(error, "the token endpoint")
            #expect(failure.outcome == .notProcessed, "\(failure)")
            #expect(failure.reason.hasPrefix("could not reach the token endpoint ("), "\(failure)")
            #expect(!failure.reason.contains("secret-value"))
        }

        @Test("Errors that may come after the request is written are of unknown outcome", arguments: afterWritingErrors)
        func afterWriting(error: any Error & Sendable) {
            let failure = RefreshFailures.transport(error, "the token endpoint")
            #expect(failure.outcome == .unknown, "\(failure)")
            #expect(failure.reason.hasPrefix("no answer from the token endpoint ("), "\(failure)")
            #expect(failure.reason.count < 80, "\(failure)")
            #expect(!failure.reason.contains("secret"))
        }

        struct SomeError: Error, CustomStringConvertible {
            var description: String { "holds rt-secret" }
        }
    }
}
