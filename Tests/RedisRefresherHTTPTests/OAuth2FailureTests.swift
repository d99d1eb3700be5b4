import AsyncHTTPClient
import RedisRefresher
import RedisRefresherHTTP
import RedisTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension HTTPIntegration {
    /// How the grant classifies error answers and transport failures: rejected, not processed, or of unknown outcome.
    @Suite("OAuth 2.0 refresh_token grant: error answers and transport failures")
    struct OAuth2FailureTests {
        @Test("invalid_grant is rejected with any status", arguments: [400, 401, 503])
        func invalidGrantAnyStatus(status: Int) async throws {
            try await withHTTPScenario(.init(tokenFailure: (status, "invalid_grant"))) { scenario in
                let failure = try await refreshFailure {
                    try await scenario.grant.refresh(refreshToken: "x", using: scenario.http)
                }
                #expect(failure == .rejected("invalid_grant"))
            }
        }

        @Test("HTTP 503 and 429 without an error code are not processed", arguments: [503, 429])
        func unavailable(status: Int) async throws {
            try await withHTTPScenario(.init(tokenFailure: (status, nil))) { scenario in
                let failure = try await refreshFailure {
                    try await scenario.grant.refresh(refreshToken: "x", using: scenario.http)
                }
                #expect(failure == .notProcessed("HTTP \(status) from the token endpoint"))
            }
        }

        @Test(
            "OAuth errors that say the grant was not processed, with any status",
            arguments: [
                ("temporarily_unavailable", 400), ("temporarily_unavailable", 503), ("server_error", 500),
                ("server_error", 502), ("invalid_request", 400), ("unauthorized_client", 400),
                ("unsupported_grant_type", 400), ("invalid_scope", 400), ("invalid_client", 401),
            ]
        )
        func notProcessedErrorCodes(code: String, status: Int) async throws {
            try await withHTTPScenario(.init(tokenFailure: (status, code))) { scenario in
                let failure = try await refreshFailure {
                    try await scenario.grant.refresh(refreshToken: "x", using: scenario.http)
                }
                #expect(failure == .notProcessed("\(code) (HTTP \(status))"))
            }
        }

        @Test("HTTP 500, 502, 504 and other 5xx are of unknown outcome", arguments: [500, 502, 504, 507])
        func serverErrors(status: Int) async throws {
            try await withHTTPScenario(.init(tokenFailure: (status, nil))) { scenario in
                let failure = try await refreshFailure {
                    try await scenario.grant.refresh(refreshToken: "x", using: scenario.http)
                }
                #expect(failure == .outcomeUnknown("HTTP \(status) from the token endpoint"))
            }
        }

        @Test(
            "Other statuses, and other error codes, are of unknown outcome",
            arguments: [(400, nil), (404, nil), (401, "access_denied"), (500, "vendor_specific")] as [(Int, String?)]
        )
        func otherAnswers(status: Int, code: String?) async throws {
            try await withHTTPScenario(.init(tokenFailure: (status, code))) { scenario in
                let failure = try await refreshFailure {
                    try await scenario.grant.refresh(refreshToken: "x", using: scenario.http)
                }
                let reason = code.map { "\($0) (HTTP \(status))" } ?? "HTTP \(status) from the token endpoint"
                #expect(failure == .outcomeUnknown(reason))
            }
        }

        @Test("A token endpoint that answers after requestTimeout is of unknown outcome: it may have rotated the token")
        func answersTooLate() async throws {
            try await withHTTPScenario(.init(refreshLatency: .seconds(3))) { scenario in
                let login = scenario.auth.login()
                var grant = scenario.grant
                grant.requestTimeout = .milliseconds(300)
                let started = ContinuousClock.now
                let failure = try await refreshFailure {
                    try await grant.refresh(refreshToken: login.refreshToken ?? "", using: scenario.http)
                }
                #expect(failure == .outcomeUnknown("no answer from the token endpoint (deadline exceeded)"))
                #expect(ContinuousClock.now - started < .milliseconds(2500))
                #expect(scenario.auth.stats.tokenRequests == 1)
            }
        }

        @Test("Nothing listens (connection refused): not processed")
        func connectionRefused() async throws {
            try await withHTTPScenario { scenario in
                // The client retries the connection until the request's deadline, then reports the connect error.
                let closed = OAuth2RefreshGrant(
                    tokenEndpoint: "http://127.0.0.1:\(try freeLoopbackPort())/oauth/token",
                    requestTimeout: .milliseconds(500)
                )
                let failure = try await refreshFailure {
                    try await closed.refresh(refreshToken: "x", using: scenario.http)
                }
                #expect(failure == .notProcessed("could not reach the token endpoint (connection refused)"))
            }
        }

        @Test("A TLS handshake that fails (https to a plain HTTP server): not processed")
        func tlsHandshakeFailure() async throws {
            try await withHTTPScenario { scenario in
                let grant = OAuth2RefreshGrant(
                    tokenEndpoint: "https://127.0.0.1:\(scenario.server.port)/oauth/token",
                    requestTimeout: .seconds(2)
                )
                let failure = try await refreshFailure {
                    try await grant.refresh(refreshToken: "x", using: scenario.http)
                }
                #expect(failure == .notProcessed("could not reach the token endpoint (TLS handshake failed)"))
                #expect(scenario.auth.stats.tokenRequests == 0)
            }
        }

        @Test(
            "A host name that does not resolve (DNS failure): not processed",
            .enabled(if: invalidNamesFailFast(), "the resolver must say at once that a .invalid name does not exist")
        )
        func dnsFailure() async throws {
            try await withHTTPScenario { scenario in
                // RFC 6761: `.invalid` never resolves.
                let grant = OAuth2RefreshGrant(
                    tokenEndpoint: "http://token-endpoint.invalid/oauth/token",
                    requestTimeout: .seconds(5)
                )
                let failure = try await refreshFailure {
                    try await grant.refresh(refreshToken: "x", using: scenario.http)
                }
                #expect(failure == .notProcessed("could not reach the token endpoint (DNS failure)"))
            }
        }

        /// Whether this machine's resolver says at once that a `.invalid` name (RFC 6761) does not exist. Without a
        /// quick answer the grant's deadline passes first, which says nothing about whether the request was sent.
        static func invalidNamesFailFast() -> Bool {
            var result: UnsafeMutablePointer<addrinfo>?
            let started = ContinuousClock.now
            let status = getaddrinfo("token-endpoint.invalid", "80", nil, &result)
            if let result { freeaddrinfo(result) }
            return status != 0 && ContinuousClock.now - started < .seconds(2)
        }
    }
}
