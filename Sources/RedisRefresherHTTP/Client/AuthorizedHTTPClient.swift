import AsyncHTTPClient
import Logging
import NIOCore
import NIOHTTP1
import RedisRefresher

/// Runs HTTP requests with the shared session's credentials and, on a 401, refreshes the session **after the
/// credentials that request used** (generation-aware, coordinated across the fleet by the `RedisRefresher`) and
/// retries exactly once.
///
/// ```swift
/// let api = AuthorizedHTTPClient(client: .shared, refresher: refresher)
/// var request = HTTPClientRequest(url: "https://api.example.com/v1/orders")
/// let response = try await api.execute(request, timeout: .seconds(30))
/// ```
///
/// - Any method, headers and body; the response, including a streaming body, is the caller's to read.
/// - The body of a request is sent again on the retry, so it must be replayable: `.bytes(...)` bodies are; a
///   `.stream(...)` over a one-pass sequence is not. For those, use ``execute(timeout:logger:_:)``, whose closure
///   builds the request (and its body) anew for each attempt.
/// - A 401 response that leads to a retry is read up to ``maximumDiscardedBodyBytes`` and dropped; a 401 on the
///   retry is returned as is (no second refresh, no loop).
/// - Inside a refresh function (`RedisRefresher.isRunningRefreshFunction`) it never refreshes: a refresh whose own
///   request gets a 401 fails instead of waiting for itself. The refresh functions of this module call the identity
///   provider with the plain `HTTPClient` anyway.
/// - With `RefresherConfiguration.refreshAhead` set, the credentials are refreshed before they expire, so most
///   requests never see a 401.
///
/// Errors: the client's own (`HTTPClientError`), and `RefresherError` when the refresh after a 401 failed
/// (`RefresherError.Code.reloginRequired` when the session is gone).
public struct AuthorizedHTTPClient: Sendable {
    /// The HTTP client that sends the requests (its lifecycle stays the caller's).
    public let client: HTTPClient
    /// The refresher that provides and refreshes the credentials.
    public let refresher: RedisRefresher
    /// How the credentials go on a request (default `Authorization: Bearer`).
    public var authorization: RequestAuthorization
    /// How long a request waits for fresh credentials after a 401; `nil` uses the refresher's
    /// `RefresherConfiguration.defaultTimeout`.
    public var refreshTimeout: Duration?
    /// Which responses mean "these credentials are no longer accepted" (default: status 401).
    public var isUnauthorized: @Sendable (HTTPClientResponse) -> Bool
    /// How much of a 401 response's body is read (and dropped) before the retry, so the connection can be reused;
    /// beyond it the connection is given up instead.
    public var maximumDiscardedBodyBytes: Int

    /// A client that authorizes requests with `refresher`'s credentials.
    public init(
        client: HTTPClient,
        refresher: RedisRefresher,
        authorization: RequestAuthorization = .bearer,
        refreshTimeout: Duration? = nil,
        isUnauthorized: @escaping @Sendable (HTTPClientResponse) -> Bool = { $0.status == .unauthorized }
    ) {
        self.client = client
        self.refresher = refresher
        self.authorization = authorization
        self.refreshTimeout = refreshTimeout
        self.isUnauthorized = isUnauthorized
        self.maximumDiscardedBodyBytes = 64 * 1024
    }

    /// Sends `request` with the current credentials; on a 401 refreshes after them and sends it once more.
    ///
    /// - Parameters:
    ///   - request: the request; its body must be replayable (see the type's documentation).
    ///   - timeout: the deadline of each attempt (the wait for fresh credentials has ``refreshTimeout``).
    ///   - logger: passed to the HTTP client, and told about retries at debug level (never a token).
    public func execute(
        _ request: HTTPClientRequest,
        timeout: TimeAmount,
        logger: Logger? = nil
    ) async throws -> HTTPClientResponse {
        try await execute(timeout: timeout, logger: logger) { _ in request }
    }

    /// Builds the request with `makeRequest` for each attempt (at most two), applies ``authorization`` to it, and
    /// sends it; on a 401 refreshes after the credentials of the first attempt and sends a new request once more.
    ///
    /// Use it for bodies that cannot be replayed (streams), or to sign requests yourself (with
    /// ``RequestAuthorization/none``): `makeRequest` receives the credentials of the attempt.
    public func execute(
        timeout: TimeAmount,
        logger: Logger? = nil,
        _ makeRequest: @Sendable (Credentials) async throws -> HTTPClientRequest
    ) async throws -> HTTPClientResponse {
        let credentials = try await refresher.credentials()
        let first = try await send(makeRequest, credentials, timeout: timeout, logger: logger)
        guard isUnauthorized(first), !RedisRefresher.isRunningRefreshFunction else { return first }
        logger?.debug(
            "unauthorized; refreshing the session once and retrying",
            metadata: ["session": "\(refresher.session.rawValue)", "generation": "\(credentials.generation)"]
        )
        await Self.discard(first.body, upTo: maximumDiscardedBodyBytes)
        let fresh = try await refresher.refreshAccessTokenOrReLogin(after: credentials, timeout: refreshTimeout)
        return try await send(makeRequest, fresh, timeout: timeout, logger: logger)
    }

    private func send(
        _ makeRequest: @Sendable (Credentials) async throws -> HTTPClientRequest,
        _ credentials: Credentials,
        timeout: TimeAmount,
        logger: Logger?
    ) async throws -> HTTPClientResponse {
        var request = try await makeRequest(credentials)
        authorization.apply(credentials, to: &request)
        return try await client.execute(request, timeout: timeout, logger: logger)
    }

    /// Reads and drops a body, giving up (and with it the connection) beyond `limit` bytes or on an error.
    static func discard(_ body: HTTPClientResponse.Body, upTo limit: Int) async {
        var seen = 0
        do {
            for try await chunk in body {
                seen += chunk.readableBytes
                if seen > limit { return }
            }
        } catch {
            // The retry uses another connection.
        }
    }
}
