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
            try await withHTTPScenario(.init(client: ("crm worker", Self.secret))) { scenario in
                let login = scenario.auth.login()
                let grant = OAuth2RefreshGrant(
                    tokenEndpoint: scenario.server.url + "/oauth/token",
                    clientAuthentication: .basic(clientID: "crm worker", clientSecret: Self.secret),
                    scope: "read write",
                    additionalParameters: ["resource": "https://api.example.com/"]
                )
                let before = UnixTime.nowMilliseconds
                let tokens = try await grant.refresh(
                    refreshToken: try #require(login.refreshToken),
                    using: scenario.http
                )
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
            }
        }

        @Test("Client authentication in the request body, and as a public client")
        func bodyAuthentication() async throws {
            try await withHTTPScenario(.init(client: ("crm", Self.secret))) { scenario in
                let login = scenario.auth.login()
                let grant = OAuth2RefreshGrant(
                    tokenEndpoint: scenario.server.url + "/oauth/token",
                    clientAuthentication: .requestBody(clientID: "crm", clientSecret: Self.secret)
                )
                let tokens = try await grant.refresh(
                    refreshToken: try #require(login.refreshToken),
                    using: scenario.http
                )
                #expect(tokens.refreshToken == scenario.auth.currentRefreshToken)
                let request = try #require(scenario.auth.tokenRequests.first)
                #expect(request.authorization == nil)
                #expect(request.form["client_id"] == "crm")
                #expect(request.form["client_secret"] == Self.secret)
                #expect(request.form["scope"] == nil)

                scenario.auth.update { $0.client = nil }
                let publicGrant = OAuth2RefreshGrant(
                    tokenEndpoint: scenario.server.url + "/oauth/token",
                    clientAuthentication: .publicClient(clientID: "spa")
                )
                _ = try await publicGrant.refresh(refreshToken: try #require(tokens.refreshToken), using: scenario.http)
                let second = try #require(scenario.auth.tokenRequests.last)
                #expect(second.form["client_id"] == "spa")
                #expect(second.form["client_secret"] == nil)
                #expect(second.authorization == nil)
            }
        }

        @Test("A wrong client secret (invalid_client) is not processed: the refresh token still works once fixed")
        func invalidClient() async throws {
            try await withHTTPScenario(.init(client: ("crm", "right"))) { scenario in
                let login = scenario.auth.login()
                let grant = OAuth2RefreshGrant(
                    tokenEndpoint: scenario.server.url + "/oauth/token",
                    clientAuthentication: .basic(clientID: "crm", clientSecret: "wrong")
                )
                let failure = try await refreshFailure {
                    try await grant.refresh(refreshToken: login.refreshToken ?? "", using: scenario.http)
                }
                #expect(failure == .notProcessed("invalid_client (HTTP 401)"))
                var fixed = grant
                fixed.clientAuthentication = .basic(clientID: "crm", clientSecret: "right")
                let tokens = try await fixed.refresh(refreshToken: login.refreshToken ?? "", using: scenario.http)
                #expect(tokens.refreshToken == scenario.auth.currentRefreshToken)
            }
        }

        @Test("Without a new refresh token in the answer the stored one is kept")
        func keepsRefreshToken() async throws {
            try await withHTTPScenario(.init(rotateRefreshToken: false)) { scenario in
                try await withRefresher(scenario.refresher()) { refresher in
                    let seeded = try await scenario.seed(refresher)
                    let fresh = try await refresher.refreshAccessTokenOrReLogin(after: seeded, timeout: .seconds(10))
                    #expect(fresh.generation == seeded.generation + 1)
                    #expect(fresh.accessToken != seeded.accessToken)
                    #expect(fresh.refreshToken == seeded.refreshToken)
                    #expect(try await scenario.base.sessionField("refresh_token") == seeded.refreshToken)
                    // And the kept token works for the next refresh.
                    let next = try await refresher.refreshAccessTokenOrReLogin(after: fresh, timeout: .seconds(10))
                    #expect(next.generation == fresh.generation + 1)
                    #expect(scenario.auth.stats.refreshes == 2)
                }
            }
        }

        @Test("invalid_grant is the re-login error for the whole fleet; the reason carries no token")
        func invalidGrant() async throws {
            try await withHTTPScenario { scenario in
                try await withRefresher(scenario.refresher()) { refresher in
                    let seeded = try await scenario.seed(refresher)
                    // Another client used the refresh token: presenting it again is reuse, the server answers invalid_grant.
                    _ = try await scenario.grant.refresh(refreshToken: seeded.refreshToken, using: scenario.http)
                    let failure = try await refreshFailure {
                        try await scenario.grant.refresh(refreshToken: seeded.refreshToken, using: scenario.http)
                    }
                    #expect(failure == .rejected("invalid_grant"))
                    _ = scenario.auth.login()
                    let fresh = try await refresher.replaceSession(
                        RefreshedTokens(
                            accessToken: "a",
                            refreshToken: "unknown-refresh-token",
                            expiresIn: .seconds(60)
                        )
                    )
                    do throws(RefresherError) {
                        _ = try await refresher.refreshAccessTokenOrReLogin(after: fresh, timeout: .seconds(10))
                        Issue.record("expected reloginRequired")
                    } catch {
                        #expect(error.code == .reloginRequired)
                        #expect(!error.message.contains("unknown-refresh-token"))
                    }
                    #expect(try await scenario.base.sessionField("rejected_reason") == "invalid_grant")
                }
            }
        }

        @Test("Descriptions of a grant never show the client secret")
        func descriptionHidesSecret() {
            let grant = OAuth2RefreshGrant(
                tokenEndpoint: "https://idp.example.com/token",
                clientAuthentication: .basic(clientID: "crm", clientSecret: "very-secret-value")
            )
            var dumped = ""
            dump(grant, to: &dumped)
            for text in ["\(grant)", String(reflecting: grant), dumped, "\(grant.clientAuthentication)"] {
                #expect(!text.contains("very-secret-value"), "\(text)")
            }
        }
    }
}
