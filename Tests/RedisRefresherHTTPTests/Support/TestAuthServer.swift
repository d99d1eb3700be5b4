import Foundation
import HTTPTypes
import Hummingbird
import RedisRefresher
import Synchronization

/// A strict authorization server and API for the HTTP tests, served over real HTTP on loopback:
///
/// - `POST /oauth/token`: OAuth 2.0's `refresh_token` grant (RFC 6749 §6), form-encoded; rotates the refresh token
///   and, like OAuth 2.1 reuse detection, revokes the session when a used refresh token comes back;
/// - `POST /refresh-token`: the same refresh for cookie sessions (refresh cookie in, `Set-Cookie` out);
/// - `GET|POST|PUT /resource`: the API; accepts any access token it issued until that token expires (Bearer or
///   the `access_token` cookie), 401 otherwise; echoes the method, the `X-Test` header and the body;
/// - `GET /always-401`: always 401; `GET /large?bytes=N`: N bytes.
///
/// Everything it sees is counted, so tests can check how many refreshes and 401s there were.
final class TestAuthServer: Sendable {
    enum ExpiresIn: Sendable {
        case number, string, omitted
        /// This JSON value instead of the lifetime, such as `0` or `-30`.
        case literal(String)
    }
    enum CookieExpiry: Sendable {
        case maxAge, expires, none
        /// `Max-Age=0`: already expired.
        case zeroMaxAge
        /// An `Expires` date a minute ago.
        case pastExpires
    }

    struct Behaviour: Sendable {
        /// Lifetime of the tokens ``login()`` issues.
        var loginLifetime: Duration = .seconds(3600)
        /// Lifetime of the tokens a refresh issues.
        var refreshedLifetime: Duration = .seconds(3600)
        var refreshLatency: Duration = .zero
        var rotateRefreshToken = true
        var expiresIn: ExpiresIn = .number
        /// Answer every token request with this status and OAuth error code (no refresh happens).
        var tokenFailure: (status: Int, error: String?)?
        /// Answer every cookie refresh with this status (no refresh happens).
        var cookieFailure: Int?
        /// The `token_type` of a successful token answer.
        var tokenType = "Bearer"
        /// Extra bytes (in a `padding` field) of a successful token answer.
        var tokenPadding = 0
        /// Answer every token request with this status and body, as is (no refresh happens).
        var rawTokenAnswer: (status: Int, body: String)?
        /// Whether a successful cookie refresh sets the access cookie.
        var setsAccessCookie = true
        /// The client the token endpoint requires (HTTP Basic or the body), if any.
        var client: (id: String, secret: String)?
        var accessCookieExpiry: CookieExpiry = .maxAge
    }

    struct Stats: Sendable, Equatable {
        var tokenRequests = 0
        var cookieRequests = 0
        var refreshes = 0
        var rejected = 0
        var reuse = 0
        var resourceOK = 0
        var resource401 = 0
        var always401 = 0
        var revoked = false
    }

    /// One token endpoint request as received.
    struct TokenRequest: Sendable {
        var authorization: String?
        var contentType: String?
        var form: [String: String]
        var cookie: String?
    }

    /// One `/resource` request that was accepted.
    struct ResourceRequest: Sendable {
        var method: String
        var test: String?
        var body: String
    }

    private struct State {
        var behaviour = Behaviour()
        var stats = Stats()
        var accessTokens: [String: ContinuousClock.Instant] = [:]
        var refreshToken = ""
        var usedRefreshTokens: Set<String> = []
        var counter = 0
        var tokenRequests: [TokenRequest] = []
        var resourceRequests: [ResourceRequest] = []
    }

    private let state = Mutex(State())

    init(_ behaviour: Behaviour = Behaviour()) {
        state.withLock { $0.behaviour = behaviour }
    }

    var stats: Stats { state.withLock { $0.stats } }
    var tokenRequests: [TokenRequest] { state.withLock { $0.tokenRequests } }
    var resourceRequests: [ResourceRequest] { state.withLock { $0.resourceRequests } }
    var currentRefreshToken: String { state.withLock { $0.refreshToken } }

    func update(_ change: (inout Behaviour) -> Void) {
        state.withLock { change(&$0.behaviour) }
    }

    /// A fresh login: new tokens (``Behaviour/loginLifetime``) as the refresher stores them.
    func login() -> RefreshedTokens {
        state.withLock { state in
            state.stats.revoked = false
            state.usedRefreshTokens = []
            let (access, refresh) = Self.issue(&state, lifetime: state.behaviour.loginLifetime, rotate: true)
            return RefreshedTokens(accessToken: access, refreshToken: refresh, expiresIn: state.behaviour.loginLifetime)
        }
    }

    private static func issue(_ state: inout State, lifetime: Duration, rotate: Bool) -> (String, String?) {
        state.counter += 1
        let salt = String(UInt64.random(in: .min ... .max), radix: 36)
        let access = "at-\(state.counter)-\(salt)"
        state.accessTokens[access] = ContinuousClock.now.advanced(by: lifetime)
        guard rotate else { return (access, nil) }
        state.refreshToken = "rt-\(state.counter)-\(salt)"
        return (access, state.refreshToken)
    }

    /// Presents a refresh token: the new access token (and refresh token when rotating), or `nil` when rejected (a
    /// reused token revokes the session).
    private func refresh(_ presented: String) -> (access: String, refresh: String?, lifetime: Duration)? {
        state.withLock { state in
            guard !state.stats.revoked, !presented.isEmpty, presented == state.refreshToken else {
                state.stats.rejected += 1
                if state.usedRefreshTokens.contains(presented) {
                    state.stats.reuse += 1
                    state.stats.revoked = true
                }
                return nil
            }
            state.stats.refreshes += 1
            let rotate = state.behaviour.rotateRefreshToken
            if rotate { state.usedRefreshTokens.insert(presented) }
            let lifetime = state.behaviour.refreshedLifetime
            let (access, refresh) = Self.issue(&state, lifetime: lifetime, rotate: rotate)
            return (access, refresh, lifetime)
        }
    }

    private func authorized(_ token: String?) -> Bool {
        state.withLock { state in
            guard let token, !state.stats.revoked, let expiry = state.accessTokens[token], ContinuousClock.now < expiry
            else {
                state.stats.resource401 += 1
                return false
            }
            state.stats.resourceOK += 1
            return true
        }
    }

    /// Serves the endpoints on a free loopback port.
    func serve() async throws -> TestHTTPServer {
        let router = Router()
        router.post("/oauth/token") { request, _ -> Response in try await self.token(request) }
        router.post("/refresh-token") { request, _ -> Response in try await self.cookieRefresh(request) }
        for method in [HTTPRequest.Method.get, .post, .put] {
            router.on("/resource", method: method) { request, _ -> Response in try await self.resource(request) }
        }
        router.get("/always-401") { _, _ -> Response in
            self.state.withLock { $0.stats.always401 += 1 }
            return Self.json(#"{"error":"invalid_token"}"#, status: .unauthorized)
        }
        router.get("/large") { request, _ -> Response in
            let count = request.uri.queryParameters.get("bytes", as: Int.self) ?? 0
            let body = ByteBuffer(repeating: UInt8(ascii: "x"), count: count)
            return Response(status: .ok, body: .init(byteBuffer: body))
        }
        return try await TestHTTPServer.start(router)
    }

    private func token(_ request: Request) async throws -> Response {
        let body = String(buffer: try await request.body.collect(upTo: 1 << 20))
        let form = Self.formFields(body)
        let authorization = request.headers[.authorization]
        let behaviour = state.withLock { state in
            state.stats.tokenRequests += 1
            state.tokenRequests.append(
                TokenRequest(
                    authorization: authorization,
                    contentType: request.headers[.contentType],
                    form: form,
                    cookie: request.headers[.cookie]
                )
            )
            return state.behaviour
        }
        try await Task.sleep(for: behaviour.refreshLatency)
        if let raw = behaviour.rawTokenAnswer {
            return Self.json(raw.body, status: HTTPResponse.Status(code: raw.status))
        }
        if let failure = behaviour.tokenFailure {
            let body = failure.error.map { #"{"error":"\#($0)","error_description":"no"}"# } ?? "oops"
            return Self.json(body, status: HTTPResponse.Status(code: failure.status))
        }
        if let client = behaviour.client {
            let basic = Self.basicCredentials(authorization)
            let viaBasic = basic?.id == client.id && basic?.secret == client.secret
            let viaBody = form["client_id"] == client.id && form["client_secret"] == client.secret
            guard viaBasic || viaBody else {
                return Self.json(#"{"error":"invalid_client"}"#, status: .unauthorized)
            }
        }
        guard form["grant_type"] == "refresh_token" else {
            return Self.json(#"{"error":"unsupported_grant_type"}"#, status: .badRequest)
        }
        guard let issued = refresh(form["refresh_token"] ?? "") else {
            let error = #"{"error":"invalid_grant","error_description":"token reused or unknown"}"#
            return Self.json(error, status: .badRequest)
        }
        var fields = [#""access_token":"\#(issued.access)""#, #""token_type":"\#(behaviour.tokenType)""#]
        let seconds = issued.lifetime.components.seconds
        switch behaviour.expiresIn {
        case .number: fields.append(#""expires_in":\#(seconds)"#)
        case .string: fields.append(#""expires_in":"\#(seconds)""#)
        case .omitted: break
        case .literal(let value): fields.append(#""expires_in":\#(value)"#)
        }
        if let refresh = issued.refresh { fields.append(#""refresh_token":"\#(refresh)""#) }
        if behaviour.tokenPadding > 0 {
            fields.append(#""padding":"\#(String(repeating: "x", count: behaviour.tokenPadding))""#)
        }
        return Self.json("{" + fields.joined(separator: ",") + "}", status: .ok)
    }

    private func cookieRefresh(_ request: Request) async throws -> Response {
        let behaviour = state.withLock { state in
            state.stats.cookieRequests += 1
            state.tokenRequests.append(
                TokenRequest(
                    authorization: request.headers[.authorization],
                    contentType: request.headers[.contentType],
                    form: [:],
                    cookie: request.headers[.cookie]
                )
            )
            return state.behaviour
        }
        try await Task.sleep(for: behaviour.refreshLatency)
        if let status = behaviour.cookieFailure { return Response(status: HTTPResponse.Status(code: status)) }
        guard let presented = request.cookies["refresh_token"]?.value, let issued = refresh(presented) else {
            return Response(status: .unauthorized)
        }
        var response = Response(status: .noContent)
        let seconds = Int(issued.lifetime.components.seconds)
        switch behaviour.accessCookieExpiry {
        case _ where !behaviour.setsAccessCookie:
            break
        case .maxAge:
            response.setCookie(Cookie(name: "access_token", value: issued.access, maxAge: seconds, path: "/"))
        case .expires:
            let expires = Date(timeIntervalSinceNow: TimeInterval(seconds))
            response.setCookie(Cookie(name: "access_token", value: issued.access, expires: expires, path: "/"))
        case .none:
            response.setCookie(Cookie(name: "access_token", value: issued.access, path: "/"))
        case .zeroMaxAge:
            response.setCookie(Cookie(name: "access_token", value: issued.access, maxAge: 0, path: "/"))
        case .pastExpires:
            let expires = Date(timeIntervalSinceNow: -60)
            response.setCookie(Cookie(name: "access_token", value: issued.access, expires: expires, path: "/"))
        }
        if let refresh = issued.refresh {
            response.setCookie(
                Cookie(name: "refresh_token", value: refresh, maxAge: 30 * 86_400, path: "/refresh-token")
            )
        }
        return response
    }

    private func resource(_ request: Request) async throws -> Response {
        let header = request.headers[.authorization] ?? ""
        let token = header.hasPrefix("Bearer ") ? String(header.dropFirst(7)) : request.cookies["access_token"]?.value
        let body = String(buffer: try await request.body.collect(upTo: 1 << 24))
        guard authorized(token) else {
            var response = Self.json(#"{"error":"invalid_token"}"#, status: .unauthorized)
            response.headers[.wwwAuthenticate] = #"Bearer error="invalid_token""#
            return response
        }
        let test = request.headers[HTTPField.Name("X-Test")!]
        state.withLock {
            $0.resourceRequests.append(ResourceRequest(method: request.method.rawValue, test: test, body: body))
        }
        return Self.json(#"{"method":"\#(request.method.rawValue)","bytes":\#(body.utf8.count)}"#, status: .ok)
    }

    static func json(_ text: String, status: HTTPResponse.Status) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: text))
        )
    }

    /// The client id and secret of an `Authorization: Basic` header, form-decoded (RFC 6749 §2.3.1).
    static func basicCredentials(_ header: String?) -> (id: String, secret: String)? {
        guard let header, header.hasPrefix("Basic "), let data = Data(base64Encoded: String(header.dropFirst(6))) else {
            return nil
        }
        let pair = String(decoding: data, as: UTF8.self).split(separator: ":", maxSplits: 1).map(String.init)
        guard pair.count == 2 else { return nil }
        let fields = formFields("id=\(pair[0])&secret=\(pair[1])")
        return (fields["id"] ?? "", fields["secret"] ?? "")
    }

    /// `application/x-www-form-urlencoded` fields.
    static func formFields(_ body: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in body.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map {
                String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            fields[parts[0]] = parts.count > 1 ? parts[1] : ""
        }
        return fields
    }
}
