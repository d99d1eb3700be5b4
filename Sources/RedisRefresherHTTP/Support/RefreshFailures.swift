import AsyncHTTPClient
import NIOCore
import RedisRefresher

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// How the refresh functions of this module turn HTTP outcomes into `RefreshFailure`s. Reasons are short and fixed
/// in form: a status code, a sanitized OAuth error code, an error kind; never a token, a response body or a header.
///
/// The question each failure answers is whether the provider can have processed the request (and rotated the
/// refresh token). Only errors that prove the request was never written, or answers in which the provider says it
/// did not process it, are `notProcessed`; everything else is `unknown`.
enum RefreshFailures {
    /// AsyncHTTPClient errors raised only before any byte of the request is written: while connecting (connect, TLS,
    /// proxy handshakes), while waiting for a pooled connection, or while validating the request. The pool reports a
    /// request that never got a connection with the last connection error it saw, so these also arrive for a request
    /// that waited in the queue. (Deprecated cases that are no longer thrown are left out.)
    private static let sentNothing: [HTTPClientError] = [
        .connectTimeout, .tlsHandshakeTimeout, .socksHandshakeTimeout, .httpProxyHandshakeTimeout,
        .getConnectionFromPoolTimeout, .invalidProxyResponse, .proxyAuthenticationRequired, .alreadyShutdown,
        .invalidURL, .emptyHost, .missingSocketPath, .emptyScheme, .traceRequestWithBody,
        .identityCodingIncorrectlyPresent, .invalidRedirectConfiguration, .invalidHTTPVersionConfiguration,
        .invalidDNSOverridesConfiguration, .invalidLocalAddress, .invalidProxyConfiguration,
    ]
    /// The same for the cases with associated values, by `shortDescription` (which never holds those values).
    private static let sentNothingKinds: Set<String> = [
        "Unsupported scheme", "Invalid header field names", "Invalid header field values",
        "Server offered unsupported application protocol",
    ]
    /// `NIOSSLError` cases that only happen during the TLS handshake (or while setting it up), before the request.
    /// Matched by name: this target does not depend on NIOSSL itself.
    private static let handshakeSSLErrors: Set<String> = [
        "handshakeFailed", "noCertificateToValidate", "unableToValidateCertificate", "cannotMatchULabel",
        "cannotFindPeerIP", "failedToLoadCertificate", "failedToLoadPrivateKey", "noSuchFilesystemObject",
    ]
    /// `NIOSSLExtraError` kinds raised while setting up or validating the TLS handshake.
    private static let handshakeSSLExtraErrors: Set<String> = [
        "failedToValidateHostname", "serverHostnameImpossibleToMatch", "cannotUseIPAddressInSNI",
        "invalidSNIHostname", "unknownPrivateKeyFileType",
    ]
    /// RFC 6749 error codes that say the grant was not processed: the server is (temporarily) unable to, or it
    /// refused the request for a reason that comes before the refresh token is looked at (client authentication,
    /// malformed request, grant type or scope not allowed), so the token was not consumed.
    static let notProcessedCodes: Set<String> = [
        "temporarily_unavailable", "server_error", "invalid_client", "invalid_request", "unauthorized_client",
        "unsupported_grant_type", "invalid_scope",
    ]
    /// Statuses that say the request was not processed: 503 Service Unavailable and 429 Too Many Requests.
    static let notProcessedStatuses: Set<UInt> = [429, 503]

    private static let codeScalars = Set(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-".unicodeScalars
    )

    /// A request that did not produce a response: `notProcessed` when the error proves the request was never
    /// written (see ``notSent(_:)``), `unknown` otherwise (a timeout, a reset or a closed connection after writing,
    /// the deadline, cancellation, anything unrecognized).
    static func transport(_ error: any Error, _ endpoint: String) -> RefreshFailure {
        if let cause = notSent(error) {
            return .notProcessed("could not reach \(endpoint) (\(cause))")
        }
        return .outcomeUnknown("no answer from \(endpoint) (\(summary(error)))")
    }

    /// Why `error` proves that the request was never written, or `nil` when it does not:
    ///
    /// - `HTTPClientError`s of connection setup, pool waits and request validation (``sentNothing``); not
    ///   `deadlineExceeded`, which AsyncHTTPClient raises both for a request still waiting for a connection and for
    ///   one already sent;
    /// - `IOError` `ECONNREFUSED` (TCP reports it only for `connect`), and any `IOError` of the `connect` call;
    /// - `ChannelError.connectTimeout`, `SocketAddressError` (address resolution);
    /// - NIO's `NIOConnectionError` (connection and DNS failures of the Happy Eyeballs connector);
    /// - NIOSSL's handshake and certificate validation errors.
    static func notSent(_ error: any Error) -> String? {
        switch error {
        case let error as HTTPClientError:
            if sentNothing.contains(error) || sentNothingKinds.contains(error.shortDescription) {
                return error.shortDescription.lowercased()
            }
            return nil
        case let error as IOError:
            if error.errnoCode == ECONNREFUSED { return "connection refused" }
            // `connect(2)` itself (reason `connect(descriptor:addr:size:)`) or the completion of a non-blocking one.
            let text = String(describing: error)
            if text.hasPrefix("connect(") || text.hasPrefix("finishing a non-blocking connect") {
                return "connect failed, errno \(error.errnoCode)"
            }
            return nil
        case ChannelError.connectTimeout:
            return "connect timeout"
        case is SocketAddressError:
            return "address resolution failed"
        default:
            break
        }
        // Types of modules this target does not import, matched by their full name.
        switch String(reflecting: type(of: error)) {
        case "NIOPosix.NIOConnectionError":
            return String(describing: error).hasPrefix("DNS error") ? "DNS failure" : "connection failed"
        case "NIOSSL.NIOSSLError":
            let kind = String(String(describing: error).prefix { $0 != "(" })
            return handshakeSSLErrors.contains(kind) ? "TLS handshake failed" : nil
        case "NIOSSL.NIOSSLExtraError":
            let kind = String(String(describing: error).dropFirst("NIOSSLExtraError.".count).prefix { $0 != ":" })
            return handshakeSSLExtraErrors.contains(kind) ? "TLS handshake failed" : nil
        default:
            return nil
        }
    }

    /// A short description of a transport error of unknown outcome, without values that could hold secrets.
    static func summary(_ error: any Error) -> String {
        switch error {
        case let error as HTTPClientError:
            let text = error.shortDescription
            // `internalStateFailure` carries a file and line: name the type only.
            return text.count <= 40 ? text.lowercased() : "HTTPClientError"
        case let error as IOError:
            return error.errnoCode == ECONNRESET ? "connection reset" : "IOError, errno \(error.errnoCode)"
        case is CancellationError:
            return "cancelled"
        default:
            let name = String(reflecting: type(of: error))
            if name == "NIOSSL.NIOSSLError" {
                return "NIOSSLError." + String(String(describing: error).prefix { $0 != "(" })
            }
            return String(describing: type(of: error))
        }
    }

    /// An answer without usable tokens (not a 2xx, or a 2xx the caller could not use), from its status and OAuth
    /// `error` code, if any:
    ///
    /// - `invalid_grant`, with any status: `rejected`;
    /// - a code of ``notProcessedCodes``, with any status: `notProcessed`;
    /// - 503 or 429, with any other code or none: `notProcessed`;
    /// - anything else: `unknown`.
    static func errorAnswer(status: UInt, code: String?, endpoint: String) -> RefreshFailure {
        if let code = sanitizedCode(code) {
            if code == "invalid_grant" { return .rejected("invalid_grant") }
            let reason = "\(code) (HTTP \(status))"
            if notProcessedCodes.contains(code) || notProcessedStatuses.contains(status) {
                return .notProcessed(reason)
            }
            return .outcomeUnknown(reason)
        }
        let reason = "HTTP \(status) from \(endpoint)"
        return notProcessedStatuses.contains(status) ? .notProcessed(reason) : .outcomeUnknown(reason)
    }

    /// An OAuth `error` code as published: the registry's codes are `[a-z_]`; anything longer than 64 characters or
    /// outside `[A-Za-z0-9_.-]` is summarized as `unrecognized_error`.
    static func sanitizedCode(_ code: String?) -> String? {
        guard let code, !code.isEmpty else { return nil }
        guard code.utf8.count <= 64, code.unicodeScalars.allSatisfy(codeScalars.contains) else {
            return "unrecognized_error"
        }
        return code
    }
}
