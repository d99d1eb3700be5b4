import ArgumentParser
import DemoIdentityProvider
import Foundation
import RedisRefresher

/// The demo's strict identity provider on its own, for fleets started elsewhere (docker-compose, by hand).
struct IdpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "idp",
        abstract: "Serve the demo's strict identity provider; optionally log in and store the session in Redis.")

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0 picks a free one).") var port = 8080
    @Option(help: "Access-token lifetime in seconds.") var tokenTTL = 30.0
    @Option(help: "Refresh latency in milliseconds.") var latencyMs = 200
    @Option(help: "Log in at start and store the session under this name ($SESSION).") var session: String?
    @Option(help: "Redis URL for --session ($REDIS_URL); a password here is visible to `ps`.") var redisURL: String?
    @OptionGroup var password: RedisPasswordOptions

    func run() async throws {
        guard tokenTTL >= 1, latencyMs >= 0, (0...65535).contains(port) else {
            throw CLIError("--token-ttl must be ≥ 1, --latency-ms ≥ 0, --port in 0...65535")
        }
        let idp = DemoIdentityProvider(
            configuration: .init(
                refreshLatency: .milliseconds(latencyMs), accessTokenLifetime: .milliseconds(Int64(tokenTTL * 1000))))
        let server = try await idp.serve(host: host, port: port)
        if let name = Environment.string(session, "SESSION") {
            let url = try password.apply(toURL: Environment.string(redisURL, "REDIS_URL") ?? "redis://127.0.0.1:6379")
            let redis = try RedisConnection(url: url)
            let admin = SessionAdmin(connection: redis, keys: SessionKeys(session: try SessionName(name)))
            let login = idp.login()
            let generation = try await admin.putSession(
                RefreshedTokens(
                    accessToken: login.access_token, refreshToken: login.refresh_token,
                    expiresIn: .seconds(login.expires_in)),
                by: "idp-login")
            redis.close()
            print(
                "stored session \(name) (generation \(generation)) in "
                    + RedisConfiguration.redactingPassword(inURL: url))
        }
        print("identity provider listening on http://\(host):\(server.port)")
        // Serve until SIGINT/SIGTERM.
        let stopped = AsyncStream<Void>.makeStream()
        let signals = ShutdownSignal.install {
            await server.stop()
            stopped.continuation.finish()
        }
        defer { signals.cancel() }
        for await _ in stopped.stream {}
    }
}
