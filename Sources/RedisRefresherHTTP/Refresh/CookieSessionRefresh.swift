import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import RedisRefresher

/// A ready refresh function for cookie sessions: `POST {baseURL}/refresh-token` with the refresh cookie, reading the
/// new access and refresh cookies from the answer's `Set-Cookie` headers.
///
/// ```swift
/// let cookies = CookieSessionRefresh(baseURL: "https://app.example.com")
/// let refresher = try await RedisRefresher(
///     configuration: .init(redisURL: "redis://127.0.0.1:6379", session: "portal"),
///     refresh: cookies.refreshFunction(client: .shared))
/// let web = AuthorizedHTTPClient(client: .shared, refresher: refresher, authorization: .cookie(named: "access_token"))
/// ```
///
/// A 2xx with a non-empty access cookie gives new tokens, and they are always returned: the application issued them
/// and may have rotated the refresh cookie, so throwing them away would lose the session. The cookie's `Max-Age` (or
/// `Expires`) sets the expiry, else ``defaultExpiresIn``, else none; an access cookie that is already expired
/// (`Max-Age=0`, a past `Expires`) is returned with that expiry, and the refresher stores it as expiring now.
/// Without a new refresh cookie the current refresh token is kept. The cookies are read from the headers, so a body
/// that cannot be read does not matter.
///
/// Every other end is a `RefreshFailure` whose outcome tells the refresher whether the refresh cookie may have been
/// used up:
///
/// | condition | outcome |
/// |---|---|
/// | HTTP 400, 401 or 403: the refresh cookie is no longer accepted | `rejected`: log in again |
/// | HTTP 503 or 429 | `notProcessed` |
/// | the request was never written (a) | `notProcessed` |
/// | HTTP 500, 502, 504 or any other 5xx | `unknown` |
/// | any other status (3xx, other 4xx) | `unknown` |
/// | no answer after sending: the deadline passed (b), a read or write timeout, a reset connection | `unknown` |
/// | the connection closed before the answer, cancellation, any other transport error | `unknown` |
/// | a 2xx without the access cookie, or with an empty one | `unknown` |
///
/// - (a) Connection refused, DNS failure, TLS handshake or certificate failure, connect, TLS or proxy handshake
///   timeout, no pooled connection in time, a request AsyncHTTPClient refuses to send (invalid URL, client shut down).
/// - (b) ``requestTimeout``: AsyncHTTPClient reports the same error whether the request was still waiting for a
///   connection or already sent, so it counts as sent.
///
/// Failure reasons hold a status or an error kind, never a cookie value or a response body.
public struct CookieSessionRefresh: Sendable {
    /// The application's base URL, such as `https://app.example.com`.
    public var baseURL: String
    /// The refresh endpoint's path (default `/refresh-token`).
    public var path: String
    /// The cookie that carries the access token (default `access_token`).
    public var accessCookieName: String
    /// The cookie that carries the refresh token (default `refresh_token`).
    public var refreshCookieName: String
    /// The access token's lifetime when its cookie has neither `Max-Age` nor `Expires`; `nil` stores no expiry.
    public var defaultExpiresIn: Duration?
    /// The deadline of the refresh request.
    public var requestTimeout: Duration
    /// Extra headers for the refresh request, such as a CSRF header.
    public var additionalHeaders: HTTPHeaders

    /// A cookie-session refresh against `baseURL`.
    public init(
        baseURL: String,
        path: String = "/refresh-token",
        accessCookieName: String = "access_token",
        refreshCookieName: String = "refresh_token",
        defaultExpiresIn: Duration? = nil,
        requestTimeout: Duration = .seconds(30),
        additionalHeaders: HTTPHeaders = [:]
    ) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.path = path.hasPrefix("/") ? path : "/" + path
        self.accessCookieName = accessCookieName
        self.refreshCookieName = refreshCookieName
        self.defaultExpiresIn = defaultExpiresIn
        self.requestTimeout = requestTimeout
        self.additionalHeaders = additionalHeaders
    }

    /// The refresh function for a `RedisRefresher`: the session's current refresh token as the refresh cookie,
    /// sent by `client`.
    public func refreshFunction(client: HTTPClient) -> RedisRefresher.RefreshFunction {
        { current in try await self.refresh(refreshToken: current.refreshToken, using: client) }
    }

    /// Calls the refresh endpoint once with `refreshToken`.
    public func refresh(
        refreshToken: String,
        using client: HTTPClient
    ) async throws(RefreshFailure) -> RefreshedTokens {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .POST
        request.headers.add(contentsOf: additionalHeaders)
        request.headers.replaceOrAdd(name: "Cookie", value: "\(refreshCookieName)=\(refreshToken)")
        request.headers.replaceOrAdd(name: "Content-Length", value: "0")
        let status: HTTPResponseStatus
        let setCookies: [SetCookie]
        do {
            let response = try await client.execute(request, timeout: TimeAmount(requestTimeout))
            status = response.status
            setCookies = response.headers["Set-Cookie"].compactMap(SetCookie.init(header:))
            await AuthorizedHTTPClient.discard(response.body, upTo: 1 << 20)
        } catch {
            throw RefreshFailures.transport(error, Self.endpoint)
        }
        switch status.code {
        case 200..<300:
            break
        case 400, 401, 403:
            throw .rejected("refresh cookie rejected (HTTP \(status.code))")
        case let code where RefreshFailures.notProcessedStatuses.contains(code):
            throw .notProcessed("HTTP \(code) from \(Self.endpoint)")
        default:
            throw .outcomeUnknown("HTTP \(status.code) from \(Self.endpoint)")
        }
        let now = UnixTime.nowMilliseconds
        // The last cookie of a name wins, as in a browser. An expired one still carries the new token.
        guard let access = setCookies.last(where: { $0.name == accessCookieName }), !access.value.isEmpty else {
            throw .outcomeUnknown("HTTP \(status.code) without the access cookie")
        }
        let refresh = setCookies.last { $0.name == refreshCookieName && !$0.value.isEmpty }
        if let expiresAt = access.expiry(nowMilliseconds: now) {
            return RefreshedTokens(
                accessToken: access.value,
                refreshToken: refresh?.value,
                expiresAtMilliseconds: expiresAt
            )
        }
        if let defaultExpiresIn {
            return RefreshedTokens(accessToken: access.value, refreshToken: refresh?.value, expiresIn: defaultExpiresIn)
        }
        return RefreshedTokens(accessToken: access.value, refreshToken: refresh?.value, expiresAtMilliseconds: nil)
    }

    /// How failure reasons name the refresh endpoint.
    private static let endpoint = "the refresh endpoint"
}
