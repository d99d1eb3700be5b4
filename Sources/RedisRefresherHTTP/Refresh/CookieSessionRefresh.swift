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
/// - A 2xx with the access cookie gives new tokens. The cookie's `Max-Age` (or `Expires`) sets the expiry, else
///   ``defaultExpiresIn``; without a new refresh cookie the current refresh token is kept.
/// - 400, 401 and 403 are `RefreshFailure.rejected(_:)`: the refresh cookie is no longer accepted, the session needs
///   a new login.
/// - 5xx, other statuses, timeouts, network errors and a 2xx without the access cookie are
///   `RefreshFailure.transient(_:)`.
///
/// Failure reasons hold a status or an error type, never a cookie value or a response body.
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
        refreshToken: String, using client: HTTPClient
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
            throw RefreshFailures.transport(error, "the refresh endpoint")
        }
        switch status.code {
        case 200..<300:
            break
        case 400, 401, 403:
            throw .rejected("refresh cookie rejected (HTTP \(status.code))")
        default:
            throw .transient("HTTP \(status.code) from the refresh endpoint")
        }
        let now = UnixTime.nowMilliseconds
        // The last cookie of a name wins, as in a browser.
        guard let access = setCookies.last(where: { $0.name == accessCookieName }), !access.value.isEmpty,
            (access.expiry(nowMilliseconds: now) ?? .max) > now
        else {
            throw .transient("HTTP \(status.code) without the access cookie")
        }
        let refresh = setCookies.last { $0.name == refreshCookieName && !$0.value.isEmpty }
        if let expiresAt = access.expiry(nowMilliseconds: now) {
            return RefreshedTokens(
                accessToken: access.value, refreshToken: refresh?.value, expiresAtMilliseconds: expiresAt)
        }
        if let defaultExpiresIn {
            return RefreshedTokens(accessToken: access.value, refreshToken: refresh?.value, expiresIn: defaultExpiresIn)
        }
        return RefreshedTokens(accessToken: access.value, refreshToken: refresh?.value, expiresAtMilliseconds: nil)
    }
}
