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
    @Suite("OAuth 2.0 refresh_token grant: unusual successful answers")
    struct OAuth2AnswerTests {
        @Test("A 2xx with expires_in 0 (or less) returns the tokens, expiring now", arguments: ["0", "-30", "0.0"])
        func expiresNow(expiresIn: String) async throws {
            try await withHTTPScenario(.init(expiresIn: .literal(expiresIn))) { scenario in
                let login = scenario.auth.login()
                let before = UnixTime.nowMilliseconds
                let tokens = try await scenario.grant.refresh(
                    refreshToken: login.refreshToken ?? "",
                    using: scenario.http
                )
                let after = UnixTime.nowMilliseconds
                #expect(tokens.accessToken.hasPrefix("at-"))
                #expect(tokens.refreshToken == scenario.auth.currentRefreshToken)
                #expect(tokens.refreshToken != login.refreshToken)
                let expiresAt = try #require(tokens.expiresAtMilliseconds)
                #expect(expiresAt >= before && expiresAt <= after)
            }
        }

        @Test("A token_type other than Bearer still returns the tokens", arguments: ["DPoP", "N_A", "mac"])
        func otherTokenType(type: String) async throws {
            try await withHTTPScenario(.init(tokenType: type)) { scenario in
                let login = scenario.auth.login()
                let tokens = try await scenario.grant.refresh(
                    refreshToken: login.refreshToken ?? "",
                    using: scenario.http
                )
                #expect(tokens.accessToken.hasPrefix("at-"))
                #expect(tokens.refreshToken == scenario.auth.currentRefreshToken)
            }
        }

        @Test("A 2xx larger than maximumResponseBytes is of unknown outcome: the server rotated the token")
        func oversizedAnswer() async throws {
            try await withHTTPScenario(.init(tokenPadding: 4096)) { scenario in
                let login = scenario.auth.login()
                var grant = scenario.grant
                grant.maximumResponseBytes = 1024
                let failure = try await refreshFailure {
                    try await grant.refresh(refreshToken: login.refreshToken ?? "", using: scenario.http)
                }
                #expect(failure == .outcomeUnknown("HTTP 200 with a body over 1024 bytes"))
                // The provider did refresh: presenting the old refresh token again would be reuse.
                #expect(scenario.auth.stats.refreshes == 1)
                #expect(scenario.auth.currentRefreshToken != login.refreshToken)
            }
        }

        @Test(
            "A 2xx without an access_token, or that is not JSON, is of unknown outcome",
            arguments: [
                (#"{"token_type":"Bearer","expires_in":60}"#, "HTTP 200 without an access_token"),
                (#"{"access_token":"","refresh_token":"rt-secret"}"#, "HTTP 200 without an access_token"),
                ("<html>rt-secret</html>", "HTTP 200 without a JSON object"),
            ]
        )
        func okWithoutToken(body: String, reason: String) async throws {
            try await withHTTPScenario(.init(rawTokenAnswer: (200, body))) { scenario in
                let failure = try await refreshFailure {
                    try await scenario.grant.refresh(refreshToken: "x", using: scenario.http)
                }
                #expect(failure == .outcomeUnknown(reason))
                #expect(!failure.reason.contains("secret"))
            }
        }

        @Test("expires_in as a string is honoured; without it defaultExpiresIn applies, or no expiry")
        func expiresInVariants() async throws {
            try await withHTTPScenario(.init(refreshedLifetime: .seconds(120), expiresIn: .string)) { scenario in
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
            }
        }
    }
}
