import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import RedisRefresher

/// The worker's HTTP side: `GET /resource` with a bearer token and `POST /refresh-token`, against the demo
/// identity provider (or any server with the same two endpoints).
struct DemoHTTP: Sendable {
    let client: HTTPClient
    let baseURL: String

    init(baseURL: String, connections: Int) {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(
            idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: max(connections, 8))
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(30))
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
    }

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

    /// `POST /refresh-token`: new tokens, ``RefreshFailure/rejected(_:)`` for 400/401 (`invalid_grant`),
    /// ``RefreshFailure/transient(_:)`` for anything else.
    func refresh(using refreshToken: String) async throws -> RefreshedTokens {
        struct Grant: Decodable {
            var access_token: String
            var refresh_token: String?
            var expires_in: Int?
        }
        var request = HTTPClientRequest(url: baseURL + "/refresh-token")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        let body = try JSONEncoder().encode(["refresh_token": refreshToken])
        request.body = .bytes(ByteBuffer(bytes: body))
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        do {
            response = try await client.execute(request, timeout: .seconds(30))
            bytes = try await response.body.collect(upTo: 1 << 20)
        } catch {
            throw RefreshFailure.transient("network error: \(type(of: error))")
        }
        switch response.status.code {
        case 200:
            guard let grant = try? JSONDecoder().decode(Grant.self, from: Data(buffer: bytes)) else {
                throw RefreshFailure.transient("unreadable token response")
            }
            return RefreshedTokens(
                accessToken: grant.access_token, refreshToken: grant.refresh_token,
                expiresIn: .seconds(grant.expires_in ?? 3600))
        case 400, 401:
            throw RefreshFailure.rejected("invalid_grant (HTTP \(response.status.code))")
        default:
            throw RefreshFailure.transient("HTTP \(response.status.code)")
        }
    }
}
