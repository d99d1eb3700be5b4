import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import RedisRefresher
import RedisRefresherHTTP
import Synchronization

/// The worker's HTTP side, against the demo identity provider (or any server with the same endpoints): `GET
/// /resource` with a bearer token, through ``AuthorizedHTTPClient`` (on a 401 it refreshes after the credentials
/// the request used and retries once), and refreshes with the library's ready ``OAuth2RefreshGrant`` at `POST
/// /oauth/token`.
struct DemoHTTP: Sendable {
    let client: HTTPClient
    let baseURL: String
    /// The refresh function: OAuth 2.0's `refresh_token` grant, the client authenticated with HTTP Basic.
    let grant: OAuth2RefreshGrant

    init(baseURL: String, connections: Int) {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(
            idleTimeout: .seconds(30),
            concurrentHTTP1ConnectionsPerHostSoftLimit: max(connections, 8)
        )
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(30))
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        grant = OAuth2RefreshGrant(
            tokenEndpoint: self.baseURL + "/oauth/token",
            clientAuthentication: .basic(clientID: "demo-worker", clientSecret: "demo-secret")
        )
    }

    /// The refresher's refresh function.
    var refreshFunction: RedisRefresher.RefreshFunction { grant.refreshFunction(client: client) }

    func shutdown() async {
        try? await client.shutdown()
    }

    /// `GET /resource`; returns the HTTP status code.
    func resource(accessToken: String) async throws -> Int {
        var request = HTTPClientRequest(url: baseURL + "/resource")
        request.headers.add(name: "Authorization", value: "Bearer \(accessToken)")
        let response = try await client.execute(request, timeout: .seconds(30))
        _ = try await response.body.collect(upTo: 1 << 20)
        return Int(response.status.code)
    }

    /// `GET /resource` through an ``AuthorizedHTTPClient``: the final status, and the credentials of each attempt
    /// with the Unix time it started (two attempts when a 401 led to a refresh and one retry).
    func authorizedResource(
        _ authorized: AuthorizedHTTPClient
    ) async throws -> (status: Int, attempts: [(credentials: Credentials, at: Double)]) {
        let attempts = Mutex<[(credentials: Credentials, at: Double)]>([])
        let url = baseURL + "/resource"
        let response = try await authorized.execute(timeout: .seconds(30)) { credentials in
            attempts.withLock { $0.append((credentials, Date().timeIntervalSince1970)) }
            return HTTPClientRequest(url: url)
        }
        _ = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), attempts.withLock { $0 })
    }

    /// One refresh with `refreshToken` (the uncoordinated mode, where every task refreshes on its own). Fails with
    /// the grant's ``RefreshFailure``: ``RefreshFailure/rejected(_:)`` for `invalid_grant`,
    /// ``RefreshFailure/notProcessed(_:)`` when the request never reached the provider or it said it did not process
    /// it (connection refused, a 503, `temporarily_unavailable`), ``RefreshFailure/outcomeUnknown(_:)`` when it may
    /// have (a timeout after sending, a 502 or 504): see ``OAuth2RefreshGrant`` for the whole table.
    func refresh(using refreshToken: String) async throws -> RefreshedTokens {
        try await grant.refresh(refreshToken: refreshToken, using: client)
    }
}
