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
    @OptionGroup var redis: RedisOptions<LocalRedis>

    func run() async throws {
        guard tokenTTL >= 1, latencyMs >= 0, (0...65535).contains(port) else {
            throw CLIError("--token-ttl must be ≥ 1, --latency-ms ≥ 0, --port in 0...65535")
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
        // Serve until SIGINT/SIGTERM.
        let stopped = AsyncStream<Void>.makeStream()
        let signals = try ShutdownSignal.install {
            await idp.server.stop()
            stopped.continuation.finish()
        }
        defer { signals.cancel() }
        for await _ in stopped.stream {}
    }
}
