import ArgumentParser
import Foundation
import RedisRefresher

/// The demo's strict identity provider on its own, for fleets started elsewhere (docker-compose, by hand).
struct IdpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "idp",
        abstract: "Serve the demo's strict identity provider; optionally log in and store the session in Redis.",
        discussion: """
            Besides its OAuth endpoints and /stats, the provider serves GET /metrics on the same port: its counters \
            in Prometheus's text format (demo_idp_refreshes, demo_idp_refresh_token_reuse, \
            demo_idp_resource_requests{status}, demo_idp_token_expiries, demo_idp_logins, \
            demo_idp_rejected_refreshes, demo_idp_session_revoked), to compare with the workers' \
            redis_refresher_refreshes.
            """
    )

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0 picks a free one).") var port = 8080
    @Option(help: "Access-token lifetime in seconds.") var tokenTTL = 30.0
    @Option(help: "Refresh latency in milliseconds.") var latencyMs = 200
    @Option(help: "Log in at start and store the session under this name ($SESSION).") var session: String?
    @Option(
        help:
            "Serve this many sessions, NAME-0 ... NAME-(N-1) for --session NAME, each with a provider of its own under /sessions/NAME-i (a worker's IDP_URL: http://HOST:PORT/sessions/{session}), and store each in Redis."
    )
    var sessions: Int?
    @OptionGroup var redis: RedisOptions<LocalRedis>

    func run() async throws {
        guard tokenTTL >= 1, latencyMs >= 0, (0...65535).contains(port) else {
            throw CLIError("--token-ttl must be ≥ 1, --latency-ms ≥ 0, --port in 0...65535")
        }
        if let sessions {
            try await serve(sessions: sessions)
            return
        }
        let idp = try await IdentityProviderLaunch.start(
            tokenTTL: tokenTTL,
            latencyMs: latencyMs,
            host: host,
            port: port,
            metrics: true
        )
        if let name = Environment.string(session, "SESSION") {
            let url = try redis.url()
            let connection = try RedisConnection(url: url)
            defer { connection.close() }
            let admin = SessionAdmin(connection: connection, keys: SessionKeys(session: try SessionName(name)))
            let generation = try await idp.storeLogin(in: admin, by: "idp-login")
            emit(
                "stored session \(name) (generation \(generation)) in "
                    + RedisConfiguration.redactingPassword(inURL: url)
            )
        }
        // Unbuffered: whoever started the provider reads its port from this line while it serves.
        emit("identity provider listening on http://\(host):\(idp.server.port) (metrics at /metrics)")
        try await Self.serveUntilSignal { await idp.server.stop() }
    }

    /// `--sessions N`: a provider per session on one server, each session logged in and stored.
    private func serve(sessions count: Int) async throws {
        guard (1...10_000).contains(count) else { throw CLIError("--sessions must be 1...10000") }
        guard let base = Environment.string(session, "SESSION") else {
            throw CLIError("--sessions needs --session NAME (or SESSION): the sessions are NAME-0, NAME-1, ...")
        }
        let names = (0..<count).map { "\(base)-\($0)" }
        for name in names { _ = try SessionName(name) }
        let url = try redis.url()
        let providers = try await SessionProviders.start(
            names: names,
            tokenTTL: tokenTTL,
            latencyMs: latencyMs,
            host: host,
            port: port,
            metrics: true
        )
        do {
            let connection = try RedisConnection(url: url)
            defer { connection.close() }
            try await providers.storeLogins(on: connection, by: "idp-login")
        } catch {
            await providers.stop()
            throw error
        }
        emit(
            "stored sessions \(names[0]) ... \(names[names.count - 1]) in "
                + RedisConfiguration.redactingPassword(inURL: url)
        )
        emit(
            "identity provider listening on http://\(host):\(providers.server.port)/sessions/{session} (metrics at "
                + "/metrics)"
        )
        try await Self.serveUntilSignal { await providers.stop() }
    }

    /// Waits for SIGINT or SIGTERM, then runs `stop`.
    private static func serveUntilSignal(_ stop: @escaping @Sendable () async -> Void) async throws {
        let stopped = AsyncStream<Void>.makeStream()
        let signals = try ShutdownSignal.install {
            await stop()
            stopped.continuation.finish()
        }
        defer { signals.cancel() }
        for await _ in stopped.stream {}
    }
}
