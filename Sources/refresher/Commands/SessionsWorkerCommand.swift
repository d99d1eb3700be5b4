import ArgumentParser

/// `refresher _sessions`: one worker process of the sessions benchmark (hidden; see ``SessionsWorker``).
struct SessionsWorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "_sessions",
        abstract: "Serve many sessions over one set of connections (used by bench).",
        shouldDisplay: false
    )

    /// `bench` passes the URL in `REDIS_URL`, never in argv, where a password would be visible.
    @OptionGroup var redis: RedisOptions<LocalRedis>
    @Option var sessions: Int
    /// Session names are `<prefix>-<index>`.
    @Option var prefix: String
    @Option var callers = 1
    /// Idle mode: no identity provider, no storm; the sessions are read from memory once a second.
    @Flag var idle = false

    func run() async throws {
        guard (1...1_000_000).contains(sessions), (1...100).contains(callers) else {
            throw CLIError("--sessions must be 1...1000000 and --callers 1...100")
        }
        let identityProvider = Environment.string(nil, "IDP_URL")
        guard idle || identityProvider != nil else { throw CLIError("no identity provider: IDP_URL") }
        try await SessionsWorker(
            redisURL: try redis.url(),
            identityProviderURL: idle ? nil : identityProvider,
            sessions: (0..<sessions).map { "\(prefix)-\($0)" },
            callers: callers
        ).run()
    }
}
