import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization

/// A strict identity provider for the demo and the benchmarks, served over HTTP on loopback.
///
/// It behaves like an OAuth 2.1 server with refresh-token rotation and reuse detection:
/// - `POST /refresh-token` with `{"refresh_token": "..."}` answers `{"access_token", "refresh_token", "expires_in"}`
///   and rotates the refresh token; presenting a **used** refresh token revokes the whole session (every later
///   call gets 401 `invalid_grant`), as real servers do;
/// - `POST /oauth/token` is the same refresh as OAuth 2.0's `refresh_token` grant (RFC 6749 §6): a form-encoded
///   `grant_type=refresh_token&refresh_token=...` from an identified client (HTTP Basic or `client_id`), answered
///   with `{"access_token", "token_type", "expires_in", "refresh_token"}` or 400 `{"error": "invalid_grant"}`;
/// - `GET /resource` accepts `Authorization: Bearer <access token>` with an access token it issued, until that token
///   expires (a refresh does not revoke earlier access tokens, as with JWT access tokens), while the session is not
///   revoked;
/// - `POST /login` starts a new session (a fresh login) and returns its tokens;
/// - `GET /stats` returns the counters as JSON.
/// Latency and access-token lifetime are configurable. The counters are also reported through swift-metrics (see
/// `IdentityProviderMetrics` for the names).
public final class DemoIdentityProvider: Sendable {
    /// How the provider behaves.
    public struct Configuration: Sendable {
        /// How long `/refresh-token` takes to answer.
        public var refreshLatency: Duration
        /// How long an access token is accepted.
        public var accessTokenLifetime: Duration

        public init(refreshLatency: Duration = .milliseconds(200), accessTokenLifetime: Duration = .seconds(60)) {
            self.refreshLatency = refreshLatency
            self.accessTokenLifetime = accessTokenLifetime
        }
    }

    /// The provider's counters.
    public struct Stats: Codable, Sendable, Equatable {
        /// Successful refreshes (rotations).
        public var refreshes = 0
        /// Used refresh tokens presented again: each one revoked the session.
        public var reuseEvents = 0
        /// Refresh attempts rejected for any reason.
        public var rejectedRefreshes = 0
        /// `/resource` calls answered 200.
        public var resourceOK = 0
        /// `/resource` calls answered 401.
        public var resource401 = 0
        /// Access tokens that were presented after they expired (each counted once): the expiries the fleet saw.
        public var expiries = 0
        /// Whether the session is revoked (the fleet is logged out).
        public var revoked = false
        /// Logins.
        public var logins = 0
    }

    /// Tokens as issued.
    public struct Tokens: Codable, Sendable, Equatable {
        public var access_token: String
        public var refresh_token: String
        public var expires_in: Int
    }

    private struct State {
        var accessToken = ""
        var accessExpiry = ContinuousClock.now
        /// Every access token of the session still worth remembering, with its expiry.
        var issued: [String: ContinuousClock.Instant] = [:]
        var refreshToken = ""
        var usedRefreshTokens: Set<String> = []
        var expiredSeen: Set<String> = []
        var counter = 0
        /// Every token handed out, for leak checks (the demo's sessions are short; this stays small).
        var everIssued: [String] = []
        var stats = Stats()
    }

    public let configuration: Configuration
    private let state = Mutex(State())
    private let metrics = IdentityProviderMetrics()

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// The counters now.
    public var stats: Stats { state.withLock { $0.stats } }

    /// Every access and refresh token issued so far, so tests can check that none of them leaks into output.
    public var issuedTokens: [String] { state.withLock { $0.everIssued } }

    /// Starts a new session, as a user logging in.
    public func login() -> Tokens {
        state.withLock { state in
            state.stats.logins += 1
            state.stats.revoked = false
            // Metric updates are atomic stores, made with the change they report so the gauge follows its order.
            metrics.logins.increment()
            metrics.revoked.record(0)
            state.usedRefreshTokens = []
            state.issued = [:]
            return issue(&state)
        }
    }

    private func issue(_ state: inout State) -> Tokens {
        state.counter += 1
        let salt = UInt64.random(in: .min ... .max)
        state.accessToken = "at-\(state.counter)-\(String(salt, radix: 36))"
        state.refreshToken = "rt-\(state.counter)-\(String(salt &* 31, radix: 36))"
        state.accessExpiry = ContinuousClock.now.advanced(by: configuration.accessTokenLifetime)
        // Tokens long expired (and already counted as an expiry, if presented) are forgotten.
        let horizon = ContinuousClock.now.advanced(by: .seconds(-60))
        state.issued = state.issued.filter { $0.value > horizon }
        state.issued[state.accessToken] = state.accessExpiry
        state.everIssued += [state.accessToken, state.refreshToken]
        let seconds = configuration.accessTokenLifetime.components.seconds
        return Tokens(access_token: state.accessToken, refresh_token: state.refreshToken, expires_in: Int(seconds))
    }

    /// Presents a refresh token: new tokens, or `nil` (rejected; a reused token revokes the session).
    public func refresh(_ presented: String) -> Tokens? {
        state.withLock { state in
            if state.stats.revoked {
                state.stats.rejectedRefreshes += 1
                metrics.rejectedRefreshes.increment()
                return nil
            }
            if presented == state.refreshToken && !presented.isEmpty {
                state.usedRefreshTokens.insert(presented)
                state.stats.refreshes += 1
                metrics.refreshes.increment()
                return issue(&state)
            }
            state.stats.rejectedRefreshes += 1
            metrics.rejectedRefreshes.increment()
            if state.usedRefreshTokens.contains(presented) {
                state.stats.reuseEvents += 1
                state.stats.revoked = true
                metrics.reuseEvents.increment()
                metrics.revoked.record(1)
            }
            return nil
        }
    }

    /// Checks an access token for `/resource`.
    public func authorize(_ accessToken: String) -> Bool {
        state.withLock { state in
            let expiry = state.issued[accessToken]
            let ok = !state.stats.revoked && expiry.map { ContinuousClock.now < $0 } ?? false
            if ok {
                state.stats.resourceOK += 1
                metrics.resourceOK.increment()
            } else {
                state.stats.resource401 += 1
                metrics.resourceUnauthorized.increment()
                if expiry != nil, !state.stats.revoked, !state.expiredSeen.contains(accessToken) {
                    state.expiredSeen.insert(accessToken)
                    state.stats.expiries += 1
                    metrics.expiries.increment()
                }
            }
            return ok
        }
    }

    /// A running HTTP server for this provider.
    public struct Server: Sendable {
        /// The bound port on 127.0.0.1.
        public let port: Int
        /// `http://127.0.0.1:<port>`.
        public var url: String { "http://127.0.0.1:\(port)" }
        let task: Task<Void, any Error>
        let group: ServiceGroup

        /// Stops the server gracefully (open requests finish first).
        public func stop() async {
            await group.triggerGracefulShutdown()
            _ = await task.result
        }
    }

    /// Serves the provider on `host:port` (port 0 picks a free one) until ``Server/stop()``; `routes` adds routes of
    /// the caller's to the provider's router (a metrics endpoint, say).
    public func serve(
        host: String = "127.0.0.1",
        port: Int = 0,
        logger: Logger? = nil,
        routes: (Router<BasicRequestContext>) -> Void = { _ in }
    ) async throws -> Server {
        let router = Router()
        addRoutes(to: router.group())
        routes(router)
        return try await Self.serve(router, host: host, port: port, logger: logger)
    }

    /// Adds the provider's endpoints to `router`: to a group under a path prefix (`router.group("sessions/a")`),
    /// several providers share one server, each one a session of its own.
    public func addRoutes(to router: RouterGroup<BasicRequestContext>) {
        router.post("/refresh-token") { request, context -> Response in
            struct Body: Decodable { var refresh_token: String }
            let body = try await request.decode(as: Body.self, context: context)
            try await Task.sleep(for: self.configuration.refreshLatency)
            guard let tokens = self.refresh(body.refresh_token) else {
                return Self.json(["error": "invalid_grant"], status: .unauthorized)
            }
            return try Self.json(tokens)
        }
        router.post("/oauth/token") { request, context -> Response in
            struct Form: Decodable {
                var grant_type: String?
                var refresh_token: String?
                var client_id: String?
            }
            struct Grant: Encodable {
                var access_token: String
                var token_type = "Bearer"
                var expires_in: Int
                var refresh_token: String
            }
            let form = try await URLEncodedFormDecoder().decode(Form.self, from: request, context: context)
            let basic = request.headers[.authorization]?.hasPrefix("Basic ") ?? false
            guard basic || !(form.client_id ?? "").isEmpty else {
                return Self.json(["error": "invalid_client"], status: .unauthorized)
            }
            guard form.grant_type == "refresh_token" else {
                return Self.json(["error": "unsupported_grant_type"], status: .badRequest)
            }
            try await Task.sleep(for: self.configuration.refreshLatency)
            guard let tokens = self.refresh(form.refresh_token ?? "") else {
                return Self.json(["error": "invalid_grant"], status: .badRequest)
            }
            let grant = Grant(
                access_token: tokens.access_token,
                expires_in: tokens.expires_in,
                refresh_token: tokens.refresh_token
            )
            return try Self.json(grant)
        }
        router.post("/login") { _, _ -> Response in try Self.json(self.login()) }
        router.get("/resource") { request, _ -> Response in
            let header = request.headers[.authorization] ?? ""
            guard header.hasPrefix("Bearer "), self.authorize(String(header.dropFirst(7))) else {
                return Self.json(["error": "invalid_token"], status: .unauthorized)
            }
            return Self.json(["data": "ok"], status: .ok)
        }
        router.get("/stats") { _, _ -> Response in try Self.json(self.stats) }
    }

    /// Serves `router` on `host:port` (port 0 picks a free one) until ``Server/stop()``.
    public static func serve(
        _ router: Router<BasicRequestContext>,
        host: String = "127.0.0.1",
        port: Int = 0,
        logger: Logger? = nil
    ) async throws -> Server {
        var quiet = logger ?? Logger(label: "demo-idp")
        if logger == nil { quiet.logLevel = .warning }
        let (portStream, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { channel in
                portContinuation.yield(channel.localAddress?.port ?? 0)
                portContinuation.finish()
            },
            logger: quiet
        )
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: quiet))
        let task = Task {
            // A server that fails to start (port taken) must still end the wait for its port.
            defer { portContinuation.finish() }
            try await group.run()
        }
        var iterator = portStream.makeAsyncIterator()
        guard let bound = await iterator.next(), bound > 0 else {
            await group.triggerGracefulShutdown()
            throw DemoIdentityProviderError(message: "the identity provider could not bind \(host):\(port)")
        }
        return Server(port: bound, task: task, group: group)
    }

    private static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try JSONEncoder().encode(value)
        return Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: data))
        )
    }

    private static func json(_ value: [String: String], status: HTTPResponse.Status) -> Response {
        let data = (try? JSONEncoder().encode(value)) ?? Data()
        return Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: data))
        )
    }
}

/// A failure to start the demo identity provider.
public struct DemoIdentityProviderError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
