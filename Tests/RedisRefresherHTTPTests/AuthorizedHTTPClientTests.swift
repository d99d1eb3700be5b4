import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import RedisRefresher
import RedisRefresherHTTP
import RedisTestSupport
import Synchronization
import Testing

extension HTTPIntegration {
    @Suite("Authorized requests")
    struct AuthorizedHTTPClientTests {
        @Test("A 401 refreshes after the credentials the request used and retries once with the new token")
        func retryAfterUnauthorized() async throws {
            try await withHTTPScenario { scenario in
                try await withRefresher(scenario.refresher()) { refresher in
                    let seeded = try await scenario.seed(refresher, accessToken: "unknown-to-the-api")
                    let api = AuthorizedHTTPClient(client: scenario.http, refresher: refresher)

                    let resource = HTTPClientRequest(url: scenario.server.url + "/resource")
                    let response = try await api.execute(resource, timeout: .seconds(5))
                    #expect(response.status == .ok)
                    _ = try await response.body.collect(upTo: 1 << 16)
                    #expect(scenario.auth.stats.resource401 == 1)
                    #expect(scenario.auth.stats.resourceOK == 1)
                    #expect(scenario.auth.stats.refreshes == 1)
                    #expect(try await scenario.base.storedGeneration() == seeded.generation + 1)
                    // The stored session now holds what the server issued; a second request needs no refresh.
                    #expect(try await refresher.credentials().refreshToken == scenario.auth.currentRefreshToken)
                    let again = try await api.execute(resource, timeout: .seconds(5))
                    #expect(again.status == .ok)
                    #expect(scenario.auth.stats.refreshes == 1)
                }
            }
        }

        @Test("Requests of several workers after one expiry cause one refresh; each request is retried at most once")
        func oneRefreshForManyRequests() async throws {
            try await withHTTPScenario(.init(refreshLatency: .milliseconds(100))) { scenario in
                try await withRefreshers(count: 4, { _ in try await scenario.refresher() }) { workers in
                    try await scenario.seed(workers[0], accessToken: "expired")
                    let statuses = try await withThrowingTaskGroup(of: HTTPResponseStatus.self) { group in
                        for worker in workers {
                            let api = AuthorizedHTTPClient(client: scenario.http, refresher: worker)
                            for _ in 0..<16 {
                                group.addTask {
                                    let response = try await api.execute(
                                        HTTPClientRequest(url: scenario.server.url + "/resource"),
                                        timeout: .seconds(10)
                                    )
                                    _ = try await response.body.collect(upTo: 1 << 16)
                                    return response.status
                                }
                            }
                        }
                        return try await group.reduce(into: []) { $0.append($1) }
                    }
                    #expect(statuses.count == 64)
                    #expect(statuses.allSatisfy { $0 == .ok })
                    let stats = scenario.auth.stats
                    #expect(stats.refreshes == 1)
                    #expect(stats.reuse == 0)
                    #expect(stats.resource401 <= 64)
                    #expect(stats.resourceOK == 64)
                }
            }
        }

        @Test("A retry that gets 401 again is returned as is: exactly one refresh and one retry")
        func exactlyOneRetry() async throws {
            try await withHTTPScenario { scenario in
                try await withRefresher(scenario.refresher()) { refresher in
                    let seeded = try await scenario.seed(refresher)
                    let api = AuthorizedHTTPClient(client: scenario.http, refresher: refresher)
                    let response = try await api.execute(
                        HTTPClientRequest(url: scenario.server.url + "/always-401"),
                        timeout: .seconds(5)
                    )
                    #expect(response.status == .unauthorized)
                    #expect(scenario.auth.stats.always401 == 2)
                    #expect(scenario.auth.stats.refreshes == 1)
                    #expect(try await scenario.base.storedGeneration() == seeded.generation + 1)
                }
            }
        }

        @Test("Method, headers and a bytes body are sent again on the retry")
        func replayableBody() async throws {
            try await withHTTPScenario { scenario in
                try await withRefresher(scenario.refresher()) { refresher in
                    try await scenario.seed(refresher, accessToken: "stale")
                    let api = AuthorizedHTTPClient(client: scenario.http, refresher: refresher)
                    var request = HTTPClientRequest(url: scenario.server.url + "/resource")
                    request.method = .PUT
                    request.headers.add(name: "X-Test", value: "kept")
                    request.body = .bytes(ByteBuffer(string: "payload-1234"))
                    let response = try await api.execute(request, timeout: .seconds(5))
                    #expect(response.status == .ok)
                    let accepted = try #require(scenario.auth.resourceRequests.first)
                    #expect(accepted.method == "PUT")
                    #expect(accepted.test == "kept")
                    #expect(accepted.body == "payload-1234")
                }
            }
        }

        @Test("The makeRequest variant builds a fresh streaming body for each attempt")
        func streamingBodyIsRebuilt() async throws {
            try await withHTTPScenario { scenario in
                try await withRefresher(scenario.refresher()) { refresher in
                    let seeded = try await scenario.seed(refresher, accessToken: "stale")
                    let api = AuthorizedHTTPClient(client: scenario.http, refresher: refresher)
                    let generations = Mutex<[Int64]>([])
                    let response = try await api.execute(timeout: .seconds(5)) { credentials in
                        generations.withLock { $0.append(credentials.generation) }
                        var request = HTTPClientRequest(url: scenario.server.url + "/resource")
                        request.method = .POST
                        // A one-pass stream: it could not be sent twice.
                        let (stream, continuation) = AsyncStream.makeStream(of: ByteBuffer.self)
                        for part in ["abc", "def", "ghi"] { continuation.yield(ByteBuffer(string: part)) }
                        continuation.finish()
                        request.body = .stream(stream, length: .known(Int64(9)))
                        return request
                    }
                    #expect(response.status == .ok)
                    #expect(generations.withLock { $0 } == [seeded.generation, seeded.generation + 1])
                    #expect(scenario.auth.resourceRequests.first?.body == "abcdefghi")
                }
            }
        }

        @Test("The response, streaming body included, is left to the caller")
        func streamingResponse() async throws {
            try await withHTTPScenario { scenario in
                try await withRefresher(scenario.refresher()) { refresher in
                    try await scenario.seed(refresher)
                    let api = AuthorizedHTTPClient(client: scenario.http, refresher: refresher)
                    let response = try await api.execute(
                        HTTPClientRequest(url: scenario.server.url + "/large?bytes=3000000"),
                        timeout: .seconds(10)
                    )
                    var chunks = 0
                    var bytes = 0
                    for try await chunk in response.body {
                        chunks += 1
                        bytes += chunk.readableBytes
                    }
                    #expect(bytes == 3_000_000)
                    #expect(chunks > 1)
                }
            }
        }

        @Test("A refresh whose own request gets 401 fails at once; it never recurses into the refresh running it")
        func noRecursionFromInsideARefresh() async throws {
            try await withHTTPScenario { scenario in
                let box = Mutex<AuthorizedHTTPClient?>(nil)
                // A (misguided) refresh function that calls its identity provider through the retrying client.
                try await withRefresher(
                    scenario.refresher { _ in
                        guard let api = box.withLock({ $0 }) else { throw RefreshFailure.notProcessed("not ready") }
                        let response = try await api.execute(
                            HTTPClientRequest(url: scenario.server.url + "/always-401"),
                            timeout: .seconds(5)
                        )
                        throw RefreshFailure.rejected("HTTP \(response.status.code)")
                    }
                ) { refresher in
                    let api = AuthorizedHTTPClient(client: scenario.http, refresher: refresher)
                    box.withLock { $0 = api }
                    try await scenario.seed(refresher)
                    let started = ContinuousClock.now
                    await #expect(throws: RefresherError.self) {
                        _ = try await api.execute(
                            HTTPClientRequest(url: scenario.server.url + "/always-401"),
                            timeout: .seconds(5)
                        )
                    }
                    do {
                        _ = try await api.execute(
                            HTTPClientRequest(url: scenario.server.url + "/always-401"),
                            timeout: .seconds(5)
                        )
                    } catch let error as RefresherError {
                        #expect(error.code == .reloginRequired)
                    }
                    // The first call: its request, the refresh's single request; the second: its request only (the session is
                    // marked rejected, nobody calls the identity provider again).
                    #expect(scenario.auth.stats.always401 == 3)
                    #expect(ContinuousClock.now - started < .seconds(10))
                }
            }
        }

        @Test("Inside a refresh function, an expired session is not refreshed ahead either: no wait for itself")
        func noWaitFromInsideARefreshWithRefreshAhead() async throws {
            try await withHTTPScenario(.init(loginLifetime: .milliseconds(500))) { scenario in
                let box = Mutex<AuthorizedHTTPClient?>(nil)
                try await withRefresher(
                    scenario.refresher(scenario.configuration(refreshAhead: .seconds(10))) { _ in
                        guard let api = box.withLock({ $0 }) else { throw RefreshFailure.notProcessed("not ready") }
                        // credentials() here sees the expired session; it must not wait for the refresh running this code.
                        let response = try await api.execute(
                            HTTPClientRequest(url: scenario.server.url + "/resource"),
                            timeout: .seconds(5)
                        )
                        throw RefreshFailure.rejected("HTTP \(response.status.code)")
                    }
                ) { refresher in
                    let api = AuthorizedHTTPClient(client: scenario.http, refresher: refresher)
                    box.withLock { $0 = api }
                    let seeded = try await scenario.seed(refresher)
                    let expiresAt = try #require(seeded.expiresAtMilliseconds)
                    try await waitUntil(timeout: .seconds(15), "the session expires") {
                        UnixTime.nowMilliseconds > expiresAt
                    }
                    let started = ContinuousClock.now
                    do {
                        _ = try await api.execute(
                            HTTPClientRequest(url: scenario.server.url + "/resource"),
                            timeout: .seconds(5)
                        )
                        Issue.record("expected reloginRequired")
                    } catch let error as RefresherError {
                        // Rejected rather than a retryable outcome: the core fails every caller at once, without retries.
                        #expect(error.code == .reloginRequired)
                        #expect(error.message.contains("HTTP 401"))
                    }
                    #expect(ContinuousClock.now - started < .seconds(5))
                    #expect(scenario.auth.stats.resource401 == 1)
                }
            }
        }

        @Test("A refresh the token endpoint rejects (even with a 401) surfaces as reloginRequired and is not retried")
        func tokenEndpointRejects() async throws {
            try await withHTTPScenario(.init(tokenFailure: (401, "invalid_grant"))) { scenario in
                try await withRefresher(scenario.refresher()) { refresher in
                    try await scenario.seed(refresher, accessToken: "stale")
                    let api = AuthorizedHTTPClient(client: scenario.http, refresher: refresher)
                    do {
                        _ = try await api.execute(
                            HTTPClientRequest(url: scenario.server.url + "/resource"),
                            timeout: .seconds(5)
                        )
                        Issue.record("expected reloginRequired")
                    } catch let error as RefresherError {
                        #expect(error.code == .reloginRequired)
                        #expect(!error.message.contains(scenario.auth.currentRefreshToken))
                    }
                    #expect(scenario.auth.stats.tokenRequests == 1)
                    #expect(scenario.auth.stats.resource401 == 1)
                }
            }
        }

        @Test("Cookie authorization sends the access token as a cookie and keeps the request's other cookies")
        func cookieAuthorization() async throws {
            try await withHTTPScenario { scenario in
                try await withRefresher(scenario.refresher()) { refresher in
                    try await scenario.seed(refresher, accessToken: "stale")
                    let api = AuthorizedHTTPClient(
                        client: scenario.http,
                        refresher: refresher,
                        authorization: .cookie(named: "access_token")
                    )
                    var request = HTTPClientRequest(url: scenario.server.url + "/resource")
                    request.headers.add(name: "Cookie", value: "theme=dark; access_token=old")
                    let response = try await api.execute(request, timeout: .seconds(5))
                    #expect(response.status == .ok)
                    #expect(scenario.auth.stats.refreshes == 1)
                    var probe = HTTPClientRequest(url: "http://unused")
                    probe.headers.add(name: "Cookie", value: "theme=dark; access_token=old")
                    RequestAuthorization.cookie(named: "access_token").apply(
                        try await refresher.credentials(),
                        to: &probe
                    )
                    let cookie = probe.headers["Cookie"].joined()
                    #expect(cookie.hasPrefix("theme=dark; access_token=at-"))
                    #expect(!cookie.contains("old"))
                }
            }
        }
    }
}
