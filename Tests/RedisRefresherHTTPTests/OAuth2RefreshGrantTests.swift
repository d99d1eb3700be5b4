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
    @Suite("OAuth 2.0 refresh_token grant")
    struct OAuth2RefreshGrantTests {
        static let secret = "s3cr:t &+/é"

        @Test("HTTP Basic client authentication, form-encoded grant with scope; rotated tokens and expires_in")
        func basicAuthentication() async throws {
            let scenario = try await HTTPScenario.start(.init(client: ("crm worker", Self.secret)))
            let login = scenario.auth.login()
            let grant = OAuth2RefreshGrant(
                tokenEndpoint: scenario.server.url + "/oauth/token",
                clientAuthentication: .basic(clientID: "crm worker", clientSecret: Self.secret), scope: "read write",
                additionalParameters: ["resource": "https://api.example.com/"])
            let before = UnixTime.nowMilliseconds
            let tokens = try await grant.refresh(refreshToken: try #require(login.refreshToken), using: scenario.http)
            let request = try #require(scenario.auth.tokenRequests.first)
            #expect(request.contentType == "application/x-www-form-urlencoded")
            #expect(request.form["grant_type"] == "refresh_token")
            #expect(request.form["refresh_token"] == login.refreshToken)
            #expect(request.form["scope"] == "read write")
            #expect(request.form["resource"] == "https://api.example.com/")
            #expect(request.form["client_secret"] == nil)
            let basic = try #require(TestAuthServer.basicCredentials(request.authorization))
            #expect(basic.id == "crm worker" && basic.secret == Self.secret)
            #expect(tokens.accessToken.hasPrefix("at-"))
            #expect(tokens.refreshToken == scenario.auth.currentRefreshToken)
            #expect(tokens.refreshToken != login.refreshToken)
            let expiresAt = try #require(tokens.expiresAtMilliseconds)
            #expect(abs(expiresAt - (before + 3_600_000)) < 5_000)
            await scenario.stop()
        }

        @Test("Client authentication in the request body, and as a public client")
        func bodyAuthentication() async throws {
            let scenario = try await HTTPScenario.start(.init(client: ("crm", Self.secret)))
            let login = scenario.auth.login()
            let grant = OAuth2RefreshGrant(
                tokenEndpoint: scenario.server.url + "/oauth/token",
                clientAuthentication: .requestBody(clientID: "crm", clientSecret: Self.secret))
            let tokens = try await grant.refresh(refreshToken: try #require(login.refreshToken), using: scenario.http)
            #expect(tokens.refreshToken == scenario.auth.currentRefreshToken)
            let request = try #require(scenario.auth.tokenRequests.first)
            #expect(request.authorization == nil)
            #expect(request.form["client_id"] == "crm")
            #expect(request.form["client_secret"] == Self.secret)
            #expect(request.form["scope"] == nil)

            scenario.auth.update { $0.client = nil }
            let publicGrant = OAuth2RefreshGrant(
                tokenEndpoint: scenario.server.url + "/oauth/token",
                clientAuthentication: .publicClient(clientID: "spa"))
            _ = try await publicGrant.refresh(refreshToken: try #require(tokens.refreshToken), using: scenario.http)
            let second = try #require(scenario.auth.tokenRequests.last)
            #expect(second.form["client_id"] == "spa")
            #expect(second.form["client_secret"] == nil)
            #expect(second.authorization == nil)
            await scenario.stop()
        }

        @Test("A wrong client secret (invalid_client) is not processed: the refresh token still works once fixed")
        func invalidClient() async throws {
            let scenario = try await HTTPScenario.start(.init(client: ("crm", "right")))
            let login = scenario.auth.login()
            let grant = OAuth2RefreshGrant(
                tokenEndpoint: scenario.server.url + "/oauth/token",
                clientAuthentication: .basic(clientID: "crm", clientSecret: "wrong"))
            let failure = try await Self.failure {
                try await grant.refresh(refreshToken: login.refreshToken ?? "", using: scenario.http)
            }
            #expect(failure == .notProcessed("invalid_client (HTTP 401)"))
            var fixed = grant
            fixed.clientAuthentication = .basic(clientID: "crm", clientSecret: "right")
            let tokens = try await fixed.refresh(refreshToken: login.refreshToken ?? "", using: scenario.http)
            #expect(tokens.refreshToken == scenario.auth.currentRefreshToken)
            await scenario.stop()
        }

        @Test("Without a new refresh token in the answer the stored one is kept")
        func keepsRefreshToken() async throws {
            let scenario = try await HTTPScenario.start(.init(rotateRefreshToken: false))
            let refresher = try await scenario.refresher()
            let seeded = try await scenario.seed(refresher)
            let fresh = try await refresher.refreshAccessTokenOrReLogin(after: seeded, timeout: .seconds(10))
            #expect(fresh.generation == seeded.generation + 1)
            #expect(fresh.accessToken != seeded.accessToken)
            #expect(fresh.refreshToken == seeded.refreshToken)
            #expect(try await scenario.storedField("refresh_token") == seeded.refreshToken)
            // And the kept token works for the next refresh.
            let next = try await refresher.refreshAccessTokenOrReLogin(after: fresh, timeout: .seconds(10))
            #expect(next.generation == fresh.generation + 1)
            #expect(scenario.auth.stats.refreshes == 2)
            await refresher.shutdown()
            await scenario.stop()
        }

        @Test("invalid_grant is the re-login error for the whole fleet; the reason carries no token")
        func invalidGrant() async throws {
            let scenario = try await HTTPScenario.start()
            let refresher = try await scenario.refresher()
            let seeded = try await scenario.seed(refresher)
            // Another client used the refresh token: presenting it again is reuse, the server answers invalid_grant.
            _ = try await scenario.grant.refresh(refreshToken: seeded.refreshToken, using: scenario.http)
            let failure = try await Self.failure {
                try await scenario.grant.refresh(refreshToken: seeded.refreshToken, using: scenario.http)
            }
            #expect(failure == .rejected("invalid_grant"))
            _ = scenario.auth.login()
            let fresh = try await refresher.replaceSession(
                RefreshedTokens(accessToken: "a", refreshToken: "unknown-refresh-token", expiresIn: .seconds(60)))
            do {
                _ = try await refresher.refreshAccessTokenOrReLogin(after: fresh, timeout: .seconds(10))
                Issue.record("expected reloginRequired")
            } catch {
                #expect(error.code == .reloginRequired)
                #expect(!error.message.contains("unknown-refresh-token"))
            }
            #expect(try await scenario.storedField("rejected_reason") == "invalid_grant")
            await refresher.shutdown()
            await scenario.stop()
        }

        @Test("invalid_grant is rejected with any status", arguments: [400, 401, 503])
        func invalidGrantAnyStatus(status: Int) async throws {
            let scenario = try await HTTPScenario.start(.init(tokenFailure: (status, "invalid_grant")))
            let failure = try await Self.failure {
                try await scenario.grant.refresh(refreshToken: "x", using: scenario.http)
            }
            #expect(failure == .rejected("invalid_grant"))
            await scenario.stop()
        }

        @Test("HTTP 503 and 429 without an error code are not processed", arguments: [503, 429])
        func unavailable(status: Int) async throws {
            let scenario = try await HTTPScenario.start(.init(tokenFailure: (status, nil)))
            let failure = try await Self.failure {
                try await scenario.grant.refresh(refreshToken: "x", using: scenario.http)
            }
            #expect(failure == .notProcessed("HTTP \(status) from the token endpoint"))
            await scenario.stop()
        }

        @Test(
            "OAuth errors that say the grant was not processed, with any status",
            arguments: [
                ("temporarily_unavailable", 400), ("temporarily_unavailable", 503), ("server_error", 500),
                ("server_error", 502), ("invalid_request", 400), ("unauthorized_client", 400),
                ("unsupported_grant_type", 400), ("invalid_scope", 400), ("invalid_client", 401),
            ])
        func notProcessedErrorCodes(code: String, status: Int) async throws {
            let scenario = try await HTTPScenario.start(.init(tokenFailure: (status, code)))
            let failure = try await Self.failure {
                try await scenario.grant.refresh(refreshToken: "x", using: scenario.http)
            }
            #expect(failure == .notProcessed("\(code) (HTTP \(status))"))
            await scenario.stop()
        }

        @Test("HTTP 500, 502, 504 and other 5xx are of unknown outcome", arguments: [500, 502, 504, 507])
        func serverErrors(status: Int) async throws {
            let scenario = try await HTTPScenario.start(.init(tokenFailure: (status, nil)))
            let failure = try await Self.failure {
                try await scenario.grant.refresh(refreshToken: "x", using: scenario.http)
            }
            #expect(failure == .outcomeUnknown("HTTP \(status) from the token endpoint"))
            await scenario.stop()
        }

        @Test(
            "Other statuses, and other error codes, are of unknown outcome",
            arguments: [(400, nil), (404, nil), (401, "access_denied"), (500, "vendor_specific")] as [(Int, String?)])
        func otherAnswers(status: Int, code: String?) async throws {
            let scenario = try await HTTPScenario.start(.init(tokenFailure: (status, code)))
            let failure = try await Self.failure {
                try await scenario.grant.refresh(refreshToken: "x", using: scenario.http)
            }
            let reason = code.map { "\($0) (HTTP \(status))" } ?? "HTTP \(status) from the token endpoint"
            #expect(failure == .outcomeUnknown(reason))
            await scenario.stop()
        }

        @Test("A token endpoint that answers after requestTimeout is of unknown outcome: it may have rotated the token")
        func answersTooLate() async throws {
            let scenario = try await HTTPScenario.start(.init(refreshLatency: .seconds(3)))
            let login = scenario.auth.login()
            var grant = scenario.grant
            grant.requestTimeout = .milliseconds(300)
            let started = ContinuousClock.now
            let failure = try await Self.failure {
                try await grant.refresh(refreshToken: login.refreshToken ?? "", using: scenario.http)
            }
            #expect(failure == .outcomeUnknown("no answer from the token endpoint (deadline exceeded)"))
            #expect(ContinuousClock.now - started < .milliseconds(2500))
            #expect(scenario.auth.stats.tokenRequests == 1)
            await scenario.stop()
        }

        @Test("Nothing listens (connection refused): not processed")
        func connectionRefused() async throws {
            let scenario = try await HTTPScenario.start()
            // The client retries the connection until the request's deadline, then reports the connect error.
            let closed = OAuth2RefreshGrant(
                tokenEndpoint: "http://127.0.0.1:\(try freeLoopbackPort())/oauth/token",
                requestTimeout: .milliseconds(500))
            let failure = try await Self.failure {
                try await closed.refresh(refreshToken: "x", using: scenario.http)
            }
            #expect(failure == .notProcessed("could not reach the token endpoint (connection refused)"))
            await scenario.stop()
        }

        @Test("A TLS handshake that fails (https to a plain HTTP server): not processed")
        func tlsHandshakeFailure() async throws {
            let scenario = try await HTTPScenario.start()
            let grant = OAuth2RefreshGrant(
                tokenEndpoint: "https://127.0.0.1:\(scenario.server.port)/oauth/token",
                requestTimeout: .seconds(2))
            let failure = try await Self.failure {
                try await grant.refresh(refreshToken: "x", using: scenario.http)
            }
            #expect(failure == .notProcessed("could not reach the token endpoint (TLS handshake failed)"))
            #expect(scenario.auth.stats.tokenRequests == 0)
            await scenario.stop()
        }

        @Test(
            "A host name that does not resolve (DNS failure): not processed",
            .enabled(if: invalidNamesFailFast(), "the resolver must say at once that a .invalid name does not exist"))
        func dnsFailure() async throws {
            let scenario = try await HTTPScenario.start()
            // RFC 6761: `.invalid` never resolves.
            let grant = OAuth2RefreshGrant(
                tokenEndpoint: "http://token-endpoint.invalid/oauth/token", requestTimeout: .seconds(5))
            let failure = try await Self.failure {
                try await grant.refresh(refreshToken: "x", using: scenario.http)
            }
            #expect(failure == .notProcessed("could not reach the token endpoint (DNS failure)"))
            await scenario.stop()
        }

        @Test("A 2xx with expires_in 0 (or less) returns the tokens, expiring now", arguments: ["0", "-30", "0.0"])
        func expiresNow(expiresIn: String) async throws {
            let scenario = try await HTTPScenario.start(.init(expiresIn: .literal(expiresIn)))
            let login = scenario.auth.login()
            let before = UnixTime.nowMilliseconds
            let tokens = try await scenario.grant.refresh(refreshToken: login.refreshToken ?? "", using: scenario.http)
            let after = UnixTime.nowMilliseconds
            #expect(tokens.accessToken.hasPrefix("at-"))
            #expect(tokens.refreshToken == scenario.auth.currentRefreshToken)
            #expect(tokens.refreshToken != login.refreshToken)
            let expiresAt = try #require(tokens.expiresAtMilliseconds)
            #expect(expiresAt >= before && expiresAt <= after)
            await scenario.stop()
        }

        @Test("A token_type other than Bearer still returns the tokens", arguments: ["DPoP", "N_A", "mac"])
        func otherTokenType(type: String) async throws {
            let scenario = try await HTTPScenario.start(.init(tokenType: type))
            let login = scenario.auth.login()
            let tokens = try await scenario.grant.refresh(refreshToken: login.refreshToken ?? "", using: scenario.http)
            #expect(tokens.accessToken.hasPrefix("at-"))
            #expect(tokens.refreshToken == scenario.auth.currentRefreshToken)
            await scenario.stop()
        }

        @Test("A 2xx larger than maximumResponseBytes is of unknown outcome: the server rotated the token")
        func oversizedAnswer() async throws {
            let scenario = try await HTTPScenario.start(.init(tokenPadding: 4096))
            let login = scenario.auth.login()
            var grant = scenario.grant
            grant.maximumResponseBytes = 1024
            let failure = try await Self.failure {
                try await grant.refresh(refreshToken: login.refreshToken ?? "", using: scenario.http)
            }
            #expect(failure == .outcomeUnknown("HTTP 200 with a body over 1024 bytes"))
            // The provider did refresh: presenting the old refresh token again would be reuse.
            #expect(scenario.auth.stats.refreshes == 1)
            #expect(scenario.auth.currentRefreshToken != login.refreshToken)
            await scenario.stop()
        }

        @Test(
            "A 2xx without an access_token, or that is not JSON, is of unknown outcome",
            arguments: [
                (#"{"token_type":"Bearer","expires_in":60}"#, "HTTP 200 without an access_token"),
                (#"{"access_token":"","refresh_token":"rt-secret"}"#, "HTTP 200 without an access_token"),
                ("<html>rt-secret</html>", "HTTP 200 without a JSON object"),
            ])
        func okWithoutToken(body: String, reason: String) async throws {
            let scenario = try await HTTPScenario.start(.init(rawTokenAnswer: (200, body)))
            let failure = try await Self.failure {
                try await scenario.grant.refresh(refreshToken: "x", using: scenario.http)
            }
            #expect(failure == .outcomeUnknown(reason))
            #expect(!failure.reason.contains("secret"))
            await scenario.stop()
        }

        @Test("expires_in as a string is honoured; without it defaultExpiresIn applies, or no expiry")
        func expiresInVariants() async throws {
            let scenario = try await HTTPScenario.start(.init(refreshedLifetime: .seconds(120), expiresIn: .string))
            var token = try #require(scenario.auth.login().refreshToken)
            let before = UnixTime.nowMilliseconds
            var tokens = try await scenario.grant.refresh(refreshToken: token, using: scenario.http)
            #expect(abs((tokens.expiresAtMilliseconds ?? 0) - (before + 120_000)) < 5_000)

            scenario.auth.update { $0.expiresIn = .omitted }
            token = try #require(tokens.refreshToken)
            tokens = try await scenario.grant.refresh(refreshToken: token, using: scenario.http)
            #expect(tokens.expiresAtMilliseconds == nil)

            var grant = scenario.grant
            grant.defaultExpiresIn = .seconds(30)
            token = try #require(tokens.refreshToken)
            tokens = try await grant.refresh(refreshToken: token, using: scenario.http)
            #expect(abs((tokens.expiresAtMilliseconds ?? 0) - (UnixTime.nowMilliseconds + 30_000)) < 5_000)
            await scenario.stop()
        }

        @Test("Descriptions of a grant never show the client secret")
        func descriptionHidesSecret() {
            let grant = OAuth2RefreshGrant(
                tokenEndpoint: "https://idp.example.com/token",
                clientAuthentication: .basic(clientID: "crm", clientSecret: "very-secret-value"))
            var dumped = ""
            dump(grant, to: &dumped)
            for text in ["\(grant)", String(reflecting: grant), dumped, "\(grant.clientAuthentication)"] {
                #expect(!text.contains("very-secret-value"), "\(text)")
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

        /// The ``RefreshFailure`` `body` throws.
        static func failure(_ body: () async throws -> RefreshedTokens) async throws -> RefreshFailure {
            do {
                _ = try await body()
            } catch let failure as RefreshFailure {
                return failure
            }
            throw HTTPTestError("expected a RefreshFailure")
        }
    }
}
