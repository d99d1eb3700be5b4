import AsyncHTTPClient
import RedisRefresher
import RedisTestSupport
import Testing

@testable import RedisRefresherHTTP

extension HTTPIntegration {
    @Suite("Cookie session refresh")
    struct CookieSessionRefreshTests {
        func refresh(_ scenario: HTTPScenario) -> CookieSessionRefresh {
            CookieSessionRefresh(baseURL: scenario.server.url + "/", requestTimeout: .seconds(5))
        }

        @Test("POST /refresh-token with the refresh cookie; new cookies from Set-Cookie, Max-Age honoured")
        func rotatesCookies() async throws {
            try await withHTTPScenario(.init(refreshedLifetime: .seconds(90))) { scenario in
                let login = scenario.auth.login()
                let before = UnixTime.nowMilliseconds
                let tokens = try await refresh(scenario).refresh(
                    refreshToken: login.refreshToken ?? "",
                    using: scenario.http
                )
                let request = try #require(scenario.auth.tokenRequests.first)
                #expect(request.cookie == "refresh_token=\(login.refreshToken ?? "")")
                #expect(tokens.accessToken.hasPrefix("at-"))
                #expect(tokens.refreshToken == scenario.auth.currentRefreshToken)
                #expect(tokens.refreshToken != login.refreshToken)
                #expect(abs((tokens.expiresAtMilliseconds ?? 0) - (before + 90_000)) < 5_000)
            }
        }

        @Test("Expires instead of Max-Age; no expiry at all; no new refresh cookie keeps the current one")
        func expiryVariants() async throws {
            try await withHTTPScenario(
                .init(refreshedLifetime: .seconds(600), rotateRefreshToken: false, accessCookieExpiry: .expires)
            ) { scenario in
                let token = try #require(scenario.auth.login().refreshToken)
                var tokens = try await refresh(scenario).refresh(refreshToken: token, using: scenario.http)
                #expect(tokens.refreshToken == nil)
                #expect(abs((tokens.expiresAtMilliseconds ?? 0) - (UnixTime.nowMilliseconds + 600_000)) < 5_000)
                scenario.auth.update { $0.accessCookieExpiry = .none }
                tokens = try await refresh(scenario).refresh(refreshToken: token, using: scenario.http)
                #expect(tokens.expiresAtMilliseconds == nil)
                var withDefault = refresh(scenario)
                withDefault.defaultExpiresIn = .seconds(45)
                tokens = try await withDefault.refresh(refreshToken: token, using: scenario.http)
                #expect(abs((tokens.expiresAtMilliseconds ?? 0) - (UnixTime.nowMilliseconds + 45_000)) < 5_000)
            }
        }

        @Test("A refresh cookie the application does not know is refused: the re-login error")
        func unknownRefreshCookie() async throws {
            try await withHTTPScenario { scenario in
                let rejected = try await refreshFailure {
                    try await refresh(scenario).refresh(refreshToken: "not-issued", using: scenario.http)
                }
                #expect(rejected == .rejected("refresh cookie rejected (HTTP 401)"))
            }
        }

        @Test(
            "Statuses: 400, 401, 403 rejected; 503, 429 not processed; 5xx and others unknown",
            arguments: [
                (400, .rejected), (401, .rejected), (403, .rejected), (503, .notProcessed), (429, .notProcessed),
                (500, .unknown), (502, .unknown), (504, .unknown), (404, .unknown), (409, .unknown),
            ] as [(Int, RefreshFailure.Outcome)]
        )
        func statuses(status: Int, outcome: RefreshFailure.Outcome) async throws {
            try await withHTTPScenario(.init(cookieFailure: status)) { scenario in
                let failure = try await refreshFailure {
                    try await refresh(scenario).refresh(refreshToken: "x", using: scenario.http)
                }
                let reason =
                    outcome == .rejected
                    ? "refresh cookie rejected (HTTP \(status))" : "HTTP \(status) from the refresh endpoint"
                #expect(failure == RefreshFailure(outcome, reason))
            }
        }

        @Test("A refresh endpoint that answers after requestTimeout is of unknown outcome")
        func answersTooLate() async throws {
            try await withHTTPScenario(.init(refreshLatency: .seconds(3))) { scenario in
                var quick = refresh(scenario)
                quick.requestTimeout = .milliseconds(300)
                let failure = try await refreshFailure {
                    try await quick.refresh(refreshToken: "x", using: scenario.http)
                }
                #expect(failure == .outcomeUnknown("no answer from the refresh endpoint (deadline exceeded)"))
            }
        }

        @Test("Nothing listens (connection refused): not processed")
        func connectionRefused() async throws {
            try await withHTTPScenario { scenario in
                let closed = CookieSessionRefresh(
                    baseURL: "http://127.0.0.1:\(try freeLoopbackPort())",
                    requestTimeout: .milliseconds(500)
                )
                let failure = try await refreshFailure {
                    try await closed.refresh(refreshToken: "x", using: scenario.http)
                }
                #expect(failure == .notProcessed("could not reach the refresh endpoint (connection refused)"))
            }
        }

        @Test(
            "An access cookie that is already expired is returned with its expiry, with the rotated refresh cookie",
            arguments: [TestAuthServer.CookieExpiry.zeroMaxAge, .pastExpires]
        )
        func expiredAccessCookie(expiry: TestAuthServer.CookieExpiry) async throws {
            try await withHTTPScenario(.init(accessCookieExpiry: expiry)) { scenario in
                let login = scenario.auth.login()
                let tokens = try await refresh(scenario).refresh(
                    refreshToken: login.refreshToken ?? "",
                    using: scenario.http
                )
                #expect(tokens.accessToken.hasPrefix("at-"))
                #expect(tokens.refreshToken == scenario.auth.currentRefreshToken)
                #expect(tokens.refreshToken != login.refreshToken)
                let expiresAt = try #require(tokens.expiresAtMilliseconds)
                #expect(expiresAt <= UnixTime.nowMilliseconds)
            }
        }

        @Test("A 2xx without the access cookie is of unknown outcome: the refresh cookie may have been rotated")
        func withoutAccessCookie() async throws {
            try await withHTTPScenario(.init(setsAccessCookie: false)) { scenario in
                let login = scenario.auth.login()
                let failure = try await refreshFailure {
                    try await refresh(scenario).refresh(refreshToken: login.refreshToken ?? "", using: scenario.http)
                }
                #expect(failure == .outcomeUnknown("HTTP 204 without the access cookie"))
                #expect(scenario.auth.stats.refreshes == 1)
            }
        }

        @Test("End to end: a cookie session refreshed through the refresher, the API called with the access cookie")
        func endToEnd() async throws {
            try await withHTTPScenario { scenario in
                try await withRefresher(
                    scenario.refresher(
                        refresh: refresh(scenario).refreshFunction(client: scenario.http)
                    )
                ) { refresher in
                    let seeded = try await scenario.seed(refresher, accessToken: "stale")
                    let web = AuthorizedHTTPClient(
                        client: scenario.http,
                        refresher: refresher,
                        authorization: .cookie(named: "access_token")
                    )
                    let response = try await web.execute(
                        HTTPClientRequest(url: scenario.server.url + "/resource"),
                        timeout: .seconds(5)
                    )
                    #expect(response.status == .ok)
                    #expect(scenario.auth.stats.cookieRequests == 1)
                    let stored = try await refresher.credentials()
                    #expect(stored.generation == seeded.generation + 1)
                    #expect(stored.refreshToken == scenario.auth.currentRefreshToken)
                }
            }
        }

        @Test("Set-Cookie parsing: quoted values, attributes in any case, Max-Age over Expires, IMF-fixdate")
        func setCookieParsing() throws {
            let cookie = try #require(SetCookie(header: #"access_token="abc.def"; Path=/; max-age=60; HttpOnly"#))
            #expect(cookie.name == "access_token" && cookie.value == "abc.def" && cookie.maxAge == 60)
            let both = try #require(SetCookie(header: "a=b; Expires=Sun, 06 Nov 1994 08:49:37 GMT; Max-Age=10"))
            #expect(both.expiry(nowMilliseconds: 1_000) == 11_000)
            #expect(both.expiresAtMilliseconds == 784_111_777_000)
            #expect(SetCookie.parseHTTPDate("Thu, 01 Jan 1970 00:00:00 GMT") == 0)
            #expect(SetCookie.parseHTTPDate("Wed, 21-Oct-2015 07:28:00 GMT") == 1_445_412_480_000)
            #expect(SetCookie.parseHTTPDate("yesterday") == nil)
            #expect(SetCookie(header: "novalue") == nil)
            // Max-Age of zero or less: expired now; absurd values neither overflow nor trap.
            #expect(SetCookie(header: "a=b; Max-Age=0")?.expiry(nowMilliseconds: 5_000) == 5_000)
            #expect(SetCookie(header: "a=b; Max-Age=-10")?.expiry(nowMilliseconds: 5_000) == 5_000)
            let huge = try #require(SetCookie(header: "a=b; Max-Age=9223372036854775807"))
            #expect(huge.expiry(nowMilliseconds: 5_000) == 5_000 + SetCookie.longestMaxAge * 1000)
            #expect(SetCookie.parseHTTPDate("Thu, 01 Jan 99999999999999 00:00:00 GMT") == nil)
            #expect(SetCookie(header: "=x") == nil)
        }
    }
}
