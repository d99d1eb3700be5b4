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
/// client authenticated by HTTP Basic, in the body, or not at all, and reads the JSON answer.
///
/// A 2xx with a non-empty `access_token` gives new tokens, and they are always returned: the provider issued them
/// and may have rotated the refresh token, so throwing them away would lose the session.
///
/// - `expires_in` sets the expiry. Zero or less means the access token expires now (`expiresIn: .zero`): it is
///   stored all the same, with the new refresh token, and the next caller refreshes again. Without `expires_in` (or
///   with one that is not a finite number, or longer than ten years) ``defaultExpiresIn`` applies, else no expiry.
/// - `token_type` is not checked: a type other than `Bearer` (such as `DPoP` or `N_A`) still returns the tokens;
///   presenting the access token the way its type requires is up to the requests that use it.
/// - Without a new `refresh_token` the current one is kept.
///
/// Every other end is a `RefreshFailure` whose outcome tells the refresher whether the refresh token may have been
/// used up; the first matching row applies:
///
/// | condition | outcome |
/// |---|---|
/// | OAuth error `invalid_grant`, with any status | `rejected`: log in again |
/// | OAuth error `temporarily_unavailable` or `server_error`, with any status | `notProcessed` |
/// | OAuth error that refuses the client's configuration (a), with any status | `notProcessed` |
/// | HTTP 503 or 429, with another error code or none | `notProcessed` |
/// | the request was never written (b) | `notProcessed` |
/// | HTTP 500, 502, 504 or any other 5xx | `unknown` |
/// | any other status (3xx, 4xx), with another error code or none | `unknown` |
/// | no answer after sending: the deadline passed (c), a read or write timeout, a reset connection | `unknown` |
/// | the connection closed before the answer, cancellation, any other transport error | `unknown` |
/// | a 2xx without an `access_token`, or whose body is not a JSON object | `unknown` |
/// | a 2xx whose body is over ``maximumResponseBytes`` or cut off: it may hold rotated tokens | `unknown` |
///
/// - (a) `invalid_client`, `invalid_request`, `unauthorized_client`, `unsupported_grant_type`, `invalid_scope`: the
///   server refused the request before it looked at the refresh token, which is still good once the configuration is
///   fixed.
/// - (b) Connection refused, DNS failure, TLS handshake or certificate failure, connect, TLS or proxy handshake
///   timeout, no pooled connection in time, a request AsyncHTTPClient refuses to send (invalid URL, client shut down).
/// - (c) ``requestTimeout``: AsyncHTTPClient reports the same error whether the request was still waiting for a
///   connection or already sent, so it counts as sent.
///
/// Failure reasons hold a status, an OAuth error code or an error kind: never a token, a secret or a response body.
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
    /// The largest answer that is read. A larger 2xx answer is a failure of unknown outcome (it may hold rotated
    /// tokens that were not read); a larger error answer is judged by its status alone.
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
        refreshToken: String,
        using client: HTTPClient
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

        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: TimeAmount(requestTimeout))
        } catch {
            throw RefreshFailures.transport(error, Self.endpoint)
        }
        let status = response.status
        let body: ByteBuffer?
        let unreadable: String?
        do {
            body = try await response.body.collect(upTo: maximumResponseBytes)
            unreadable = nil
        } catch is NIOTooManyBytesError {
            body = nil
            unreadable = "a body over \(maximumResponseBytes) bytes"
        } catch {
            body = nil
            unreadable = "a body cut off (\(RefreshFailures.summary(error)))"
        }
        let answer = body.flatMap {
            try? JSONDecoder().decode(TokenEndpointResponse.self, from: Data($0.readableBytesView))
        }
        if (200..<300).contains(status.code) {
            if let unreadable { throw .outcomeUnknown("HTTP \(status.code) with \(unreadable)") }
            return try tokens(from: answer, status: status)
        }
        throw RefreshFailures.errorAnswer(status: status.code, code: answer?.error, endpoint: Self.endpoint)
    }

    /// How failure reasons name the token endpoint.
    private static let endpoint = "the token endpoint"

    private func tokens(
        from answer: TokenEndpointResponse?,
        status: HTTPResponseStatus
    ) throws(RefreshFailure)
        -> RefreshedTokens
    {
        guard let answer else { throw .outcomeUnknown("HTTP \(status.code) without a JSON object") }
        guard let accessToken = answer.accessToken, !accessToken.isEmpty else {
            throw .outcomeUnknown("HTTP \(status.code) without an access_token")
        }
        // An empty refresh token is as good as none: the current one stays.
        let refreshToken = answer.refreshToken.flatMap { $0.isEmpty ? nil : $0 }
        // A lifetime of zero or less: the access token expires now, the tokens are stored all the same. One that does
        // not make sense (absurdly long, not a number) counts as missing.
        if let seconds = answer.expiresIn, seconds.isFinite, seconds <= 10 * 365 * 86_400 {
            return RefreshedTokens(
                accessToken: accessToken,
                refreshToken: refreshToken,
                expiresIn: .milliseconds(Int64((max(seconds, 0) * 1000).rounded()))
            )
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
            self,
            children: ["tokenEndpoint": tokenEndpoint, "clientAuthentication": clientAuthentication.description]
        )
    }
}
