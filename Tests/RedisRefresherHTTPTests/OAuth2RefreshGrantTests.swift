import AsyncHTTPClient
import RedisRefresher
import RedisRefresherHTTP
import RedisTestSupport
import Testing

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

        @Test("A wrong client secret (invalid_client) is transient with its code, not a dead session")
        func invalidClient() async throws {
            let scenario = try await HTTPScenario.start(.init(client: ("crm", "right")))
            let login = scenario.auth.login()
            let grant = OAuth2RefreshGrant(
                tokenEndpoint: scenario.server.url + "/oauth/token",
                clientAuthentication: .basic(clientID: "crm", clientSecret: "wrong"))
            let failure = try await Self.failure {
                try await grant.refresh(refreshToken: login.refreshToken ?? "", using: scenario.http)
            }
            #expect(failure == .transient("invalid_client (HTTP 401)"))
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

        @Test("5xx answers are transient: the refresher reports refreshFailed (retryable)")
        func serverError() async throws {
            let scenario = try await HTTPScenario.start(.init(tokenFailure: (503, nil)))
            let failure = try await Self.failure {
                try await scenario.grant.refresh(refreshToken: "x", using: scenario.http)
            }
            #expect(failure == .transient("HTTP 503 from the token endpoint"))
            let refresher = try await scenario.refresher()
            let seeded = try await scenario.seed(refresher)
            do {
                _ = try await refresher.refreshAccessTokenOrReLogin(after: seeded, timeout: .seconds(10))
                Issue.record("expected refreshFailed")
            } catch {
                #expect(error.code == .refreshFailed)
                #expect(error.isRetryable)
            }
            await refresher.shutdown()
            await scenario.stop()
        }

        @Test("A token endpoint slower than requestTimeout, or unreachable, is a transient failure")
        func timeoutAndNetworkError() async throws {
            let scenario = try await HTTPScenario.start(.init(refreshLatency: .seconds(3)))
            let login = scenario.auth.login()
            var grant = scenario.grant
            grant.requestTimeout = .milliseconds(300)
            let started = ContinuousClock.now
            let failure = try await Self.failure {
                try await grant.refresh(refreshToken: login.refreshToken ?? "", using: scenario.http)
            }
            #expect(failure == .transient("the token endpoint timed out"))
            #expect(ContinuousClock.now - started < .milliseconds(2500))

            // Nothing listens: the client retries the connection until the request's deadline.
            let closed = OAuth2RefreshGrant(
                tokenEndpoint: "http://127.0.0.1:\(try freeLoopbackPort())/oauth/token",
                requestTimeout: .milliseconds(500))
            let unreachable = try await Self.failure {
                try await closed.refresh(refreshToken: "x", using: scenario.http)
            }
            #expect(!unreachable.isRejected)
            #expect(unreachable.reason.hasPrefix("the token endpoint"), "\(unreachable)")
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
