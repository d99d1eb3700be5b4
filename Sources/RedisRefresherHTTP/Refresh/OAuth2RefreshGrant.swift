import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import RedisRefresher

/// A ready refresh function for OAuth 2.0's `refresh_token` grant (RFC 6749 §6).
///
/// ```swift
/// let grant = OAuth2RefreshGrant(
///     tokenEndpoint: "https://idp.example.com/oauth/token",
///     clientAuthentication: .basic(clientID: "crm-worker", clientSecret: secret))
/// let refresher = try await RedisRefresher(
///     configuration: .init(redisURL: "redis://127.0.0.1:6379", session: "crm-api"),
///     refresh: grant.refreshFunction(client: .shared))
/// ```
///
/// It POSTs `grant_type=refresh_token&refresh_token=…[&scope=…]` as `application/x-www-form-urlencoded`, with the
/// client authenticated by HTTP Basic, in the body, or not at all, and reads the JSON answer:
///
/// - A 2xx with an `access_token` gives new tokens. `expires_in` sets the expiry (else ``defaultExpiresIn``);
///   without a new `refresh_token` the current one is kept.
/// - The error `invalid_grant` (with any status) is `RefreshFailure.rejected(_:)`: the session needs a new login.
/// - Other error codes (`invalid_client`, `invalid_scope`, …) are `RefreshFailure.transient(_:)` with the code: a
///   configuration problem, not a dead session.
/// - 5xx, 429, other statuses, timeouts, network errors and unreadable answers are `RefreshFailure.transient(_:)`.
///
/// Failure reasons hold a status, an OAuth error code or an error type: never a token, a secret or a response body.
/// The request goes through the plain `HTTPClient`, never through an ``AuthorizedHTTPClient``, so a 401 from the
/// token endpoint cannot start another refresh. Descriptions of the grant never show the client secret.
public struct OAuth2RefreshGrant: Sendable, CustomStringConvertible, CustomReflectable {
    /// The token endpoint's URL.
    public var tokenEndpoint: String
    /// How the client authenticates.
    public var clientAuthentication: OAuth2ClientAuthentication
    /// The `scope` parameter; `nil` leaves it out (the server keeps the granted scope).
    public var scope: String?
    /// More form fields, such as `resource` or `audience`, sent in key order.
    public var additionalParameters: [String: String]
    /// The deadline of the token request.
    public var requestTimeout: Duration
    /// The access token's lifetime when the answer has no `expires_in`; `nil` stores no expiry.
    public var defaultExpiresIn: Duration?
    /// The largest answer that is read.
    public var maximumResponseBytes: Int

    /// A grant against `tokenEndpoint`.
    public init(
        tokenEndpoint: String,
        clientAuthentication: OAuth2ClientAuthentication = .none,
        scope: String? = nil,
        additionalParameters: [String: String] = [:],
        requestTimeout: Duration = .seconds(30),
        defaultExpiresIn: Duration? = nil
    ) {
        self.tokenEndpoint = tokenEndpoint
        self.clientAuthentication = clientAuthentication
        self.scope = scope
        self.additionalParameters = additionalParameters
        self.requestTimeout = requestTimeout
        self.defaultExpiresIn = defaultExpiresIn
        self.maximumResponseBytes = 1 << 20
    }

    /// The refresh function for a `RedisRefresher`: the grant with the session's current refresh token, sent by
    /// `client`.
    public func refreshFunction(client: HTTPClient) -> RedisRefresher.RefreshFunction {
        { current in try await self.refresh(refreshToken: current.refreshToken, using: client) }
    }

    /// Runs the grant once with `refreshToken`.
    public func refresh(
        refreshToken: String, using client: HTTPClient
    ) async throws(RefreshFailure) -> RefreshedTokens {
        var request = HTTPClientRequest(url: tokenEndpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "Cache-Control", value: "no-store")
        var fields = [("grant_type", "refresh_token"), ("refresh_token", refreshToken)]
        if let scope { fields.append(("scope", scope)) }
        switch clientAuthentication {
        case .none:
            break
        case .publicClient(let clientID):
            fields.append(("client_id", clientID))
        case .basic(let clientID, let clientSecret):
            let pair = FormURLEncoding.escape(clientID) + ":" + FormURLEncoding.escape(clientSecret)
            request.headers.add(name: "Authorization", value: "Basic " + Data(pair.utf8).base64EncodedString())
        case .requestBody(let clientID, let clientSecret):
            fields.append(("client_id", clientID))
            fields.append(("client_secret", clientSecret))
        }
        fields += additionalParameters.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        request.body = .bytes(ByteBuffer(string: FormURLEncoding.encode(fields)))

        let status: HTTPResponseStatus
        let body: ByteBuffer
        do {
            let response = try await client.execute(request, timeout: TimeAmount(requestTimeout))
            status = response.status
            body = try await response.body.collect(upTo: maximumResponseBytes)
        } catch {
            throw RefreshFailures.transport(error, "the token endpoint")
        }
        let answer = try? JSONDecoder().decode(TokenEndpointResponse.self, from: Data(body.readableBytesView))
        if (200..<300).contains(status.code) {
            return try tokens(from: answer, status: status)
        }
        if let code = RefreshFailures.sanitizedCode(answer?.error) {
            if code == "invalid_grant" { throw .rejected("invalid_grant") }
            throw .transient("\(code) (HTTP \(status.code))")
        }
        throw .transient("HTTP \(status.code) from the token endpoint")
    }

    private func tokens(from answer: TokenEndpointResponse?, status: HTTPResponseStatus) throws(RefreshFailure)
        -> RefreshedTokens
    {
        guard let answer, let accessToken = answer.accessToken, !accessToken.isEmpty else {
            throw .transient("HTTP \(status.code) without an access_token")
        }
        if let type = answer.tokenType, type.lowercased() != "bearer" {
            throw .transient("unsupported token_type")
        }
        // An empty refresh token is as good as none: the current one stays.
        let refreshToken = answer.refreshToken.flatMap { $0.isEmpty ? nil : $0 }
        // A lifetime that does not make sense (negative, absurdly long, not a number) counts as missing.
        if let seconds = answer.expiresIn, seconds.isFinite, seconds >= 0, seconds <= 10 * 365 * 86_400 {
            return RefreshedTokens(
                accessToken: accessToken, refreshToken: refreshToken,
                expiresIn: .milliseconds(Int64((seconds * 1000).rounded())))
        }
        if let defaultExpiresIn {
            return RefreshedTokens(accessToken: accessToken, refreshToken: refreshToken, expiresIn: defaultExpiresIn)
        }
        return RefreshedTokens(accessToken: accessToken, refreshToken: refreshToken, expiresAtMilliseconds: nil)
    }

    public var description: String {
        "OAuth2RefreshGrant(tokenEndpoint: \(tokenEndpoint), clientAuthentication: \(clientAuthentication))"
    }

    public var customMirror: Mirror {
        Mirror(
            self, children: ["tokenEndpoint": tokenEndpoint, "clientAuthentication": clientAuthentication.description])
    }
}
