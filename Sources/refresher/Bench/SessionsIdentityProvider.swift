import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization

/// A strict identity provider for many sessions at once, served over HTTP on loopback, for the sessions benchmark.
///
/// Like ``DemoIdentityProvider`` for one session, per session: `POST /oauth/token` (OAuth 2.0's `refresh_token`
/// grant) rotates the refresh token, and presenting a used one counts as reuse and revokes that session;
/// `GET /resource` accepts an access token it issued until that token expires. Every token names its session
/// (`at-<index>-…`, `rt-<index>-…`), so a request finds its session without a lookup table.
final class SessionsIdentityProvider: Sendable {
    /// Tokens as issued.
    struct Tokens: Sendable {
        var accessToken: String
        var refreshToken: String
        /// Unix time, seconds.
        var accessExpiresAt: Double
    }

    /// What the provider saw of one session.
    struct SessionCounts: Sendable, Equatable {
        /// Successful refreshes (rotations).
        var refreshes = 0
        /// Used refresh tokens presented again: each one revoked the session.
        var reuseEvents = 0
        /// Refresh attempts rejected for any reason.
        var rejected = 0
        var revoked = false
    }

    private struct Session {
        var refreshToken = ""
        var usedRefreshTokens: Set<String> = []
        /// Every access token issued with its expiry (Unix seconds); a session has a handful at most.
        var accessTokens: [String: Double] = [:]
        var issued = 0
        var counts = SessionCounts()
    }

    private let sessions: Mutex<[Session]>
    /// How long `/oauth/token` takes to answer.
    let refreshLatency: Duration
    /// How long refreshed access tokens live.
    let accessTokenLifetime: Duration

    init(sessions count: Int, refreshLatency: Duration, accessTokenLifetime: Duration = .seconds(3600)) {
        sessions = Mutex(Array(repeating: Session(), count: count))
        self.refreshLatency = refreshLatency
        self.accessTokenLifetime = accessTokenLifetime
    }

    /// Starts session `index` (a login) with an access token that expires at `accessExpiresAt` (Unix seconds).
    func login(session index: Int, accessExpiresAt: Double) -> Tokens {
        sessions.withLock { sessions in
            sessions[index] = Session()
            return Self.issue(&sessions[index], index: index, accessExpiresAt: accessExpiresAt)
        }
    }

    /// Presents a refresh token: new tokens, or `nil` (rejected; a used token revokes its session).
    func refresh(_ presented: String) -> Tokens? {
        guard let index = Self.sessionIndex(of: presented, prefix: "rt-") else { return nil }
        let expiresAt = unixSeconds() + accessTokenLifetime.seconds
        return sessions.withLock { sessions -> Tokens? in
            guard sessions.indices.contains(index) else { return nil }
            return Self.rotate(&sessions[index], index: index, presented: presented, accessExpiresAt: expiresAt)
        }
    }

    private static func rotate(
        _ session: inout Session,
        index: Int,
        presented: String,
        accessExpiresAt: Double
    ) -> Tokens? {
        if !session.counts.revoked, presented == session.refreshToken {
            session.usedRefreshTokens.insert(presented)
            session.counts.refreshes += 1
            return issue(&session, index: index, accessExpiresAt: accessExpiresAt)
        }
        session.counts.rejected += 1
        if !session.counts.revoked, session.usedRefreshTokens.contains(presented) {
            session.counts.reuseEvents += 1
            session.counts.revoked = true
        }
        return nil
    }

    /// Whether `accessToken` is one this provider issued, not expired, of a session not revoked.
    func authorize(_ accessToken: String) -> Bool {
        guard let index = Self.sessionIndex(of: accessToken, prefix: "at-") else { return false }
        let now = unixSeconds()
        return sessions.withLock { sessions in
            guard sessions.indices.contains(index), !sessions[index].counts.revoked,
                let expiry = sessions[index].accessTokens[accessToken]
            else { return false }
            return now < expiry
        }
    }

    /// The counts of every session, by index.
    var counts: [SessionCounts] { sessions.withLock { $0.map(\.counts) } }

    private static func issue(_ session: inout Session, index: Int, accessExpiresAt: Double) -> Tokens {
        session.issued += 1
        let salt = String(UInt64.random(in: .min ... .max), radix: 36)
        let tokens = Tokens(
            accessToken: "at-\(index)-\(session.issued)-\(salt)",
            refreshToken: "rt-\(index)-\(session.issued)-\(salt)",
            accessExpiresAt: accessExpiresAt
        )
        session.refreshToken = tokens.refreshToken
        session.accessTokens[tokens.accessToken] = accessExpiresAt
        return tokens
    }

    /// The session index in `at-<index>-…` or `rt-<index>-…`.
    private static func sessionIndex(of token: String, prefix: String) -> Int? {
        guard token.hasPrefix(prefix) else { return nil }
        return Int(token.dropFirst(prefix.count).prefix { $0 != "-" })
    }

    /// A running HTTP server for this provider.
    struct Server: Sendable {
        /// `http://127.0.0.1:<port>`.
        let url: String
        fileprivate let group: ServiceGroup
        fileprivate let task: Task<Void, any Error>

        /// Stops the server; open requests finish first.
        func stop() async {
            await group.triggerGracefulShutdown()
            _ = await task.result
        }
    }

    /// Serves `POST /oauth/token` and `GET /resource` on a free loopback port until ``Server/stop()``.
    func serve() async throws -> Server {
        let router = Router()
        router.post("/oauth/token") { request, context -> Response in
            struct Form: Decodable {
                var grant_type: String?
                var refresh_token: String?
            }
            struct Grant: Encodable {
                var access_token: String
                var token_type = "Bearer"
                var expires_in: Int
                var refresh_token: String
            }
            let form = try await URLEncodedFormDecoder().decode(Form.self, from: request, context: context)
            guard form.grant_type == "refresh_token" else {
                return Self.json(#"{"error":"unsupported_grant_type"}"#, status: .badRequest)
            }
            try await Task.sleep(for: self.refreshLatency)
            guard let tokens = self.refresh(form.refresh_token ?? "") else {
                return Self.json(#"{"error":"invalid_grant"}"#, status: .badRequest)
            }
            let grant = Grant(
                access_token: tokens.accessToken,
                expires_in: Int(self.accessTokenLifetime.components.seconds),
                refresh_token: tokens.refreshToken
            )
            return Self.json(String(decoding: try JSONEncoder().encode(grant), as: UTF8.self), status: .ok)
        }
        router.get("/resource") { request, _ -> Response in
            let header = request.headers[.authorization] ?? ""
            guard header.hasPrefix("Bearer "), self.authorize(String(header.dropFirst(7))) else {
                return Self.json(#"{"error":"invalid_token"}"#, status: .unauthorized)
            }
            return Self.json(#"{"data":"ok"}"#, status: .ok)
        }
        var logger = Logger(label: "bench-idp")
        logger.logLevel = .warning
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: nil),
            onServerRunning: { channel in
                portContinuation.yield(channel.localAddress?.port ?? 0)
                portContinuation.finish()
            },
            logger: logger
        )
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
        let task = Task {
            // A server that fails to start must still end the wait for its port.
            defer { portContinuation.finish() }
            try await group.run()
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else {
            await group.triggerGracefulShutdown()
            throw CLIError("the benchmark's identity provider could not bind a loopback port")
        }
        return Server(url: "http://127.0.0.1:\(port)", group: group, task: task)
    }

    private static func json(_ body: String, status: HTTPResponse.Status) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: body))
        )
    }
}
