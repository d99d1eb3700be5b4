import ArgumentParser
import Foundation
import RedisRefresher

/// Which Redis a command talks to: `--redis-url`, else `REDIS_URL`, else the command's ``RedisFallback``; the
/// password from ``RedisPasswordOptions`` (on a Redis Cluster, every node's); TLS settings for a `rediss://`,
/// `rediss-sentinel://` or `rediss-cluster://` URL from its query items and the `REDIS_TLS_*` variables (see
/// ``RedisTLSVariables``: the variables fill in what the URL leaves out); the sentinels' credentials for a
/// `redis-sentinel://` URL from ``RedisSentinelOptions``.
///
/// The one place the command reads `REDIS_URL`, the `REDIS_TLS_*` and the `REDIS_SENTINEL_*` variables. The
/// fallback is a type parameter only so that each command's help says what it does without a URL; commands act on it
/// themselves (`demo` and `bench` may start an embedded server).
struct RedisOptions<Fallback: RedisFallback>: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Redis URL (default: $REDIS_URL, else \(Fallback.help)); a password here is visible to `ps`. "
                + "rediss:// for TLS, settings as query items (ca_file=PATH, ...) or $REDIS_TLS_* (CA_FILE, ...). "
                + "redis-sentinel://HOST:PORT[,HOST:PORT...][/DB]#PRIMARY (or rediss-sentinel://) finds the primary "
                + "through Redis Sentinel and follows its failovers; redis-cluster://HOST:PORT[,HOST:PORT...] (or "
                + "rediss-cluster://) talks to a Redis Cluster through these seed nodes.",
            valueName: "url"
        )
    )
    var redisURL: String?

    @OptionGroup var password: RedisPasswordOptions

    // An option of its own rather than an option group: every option group costs each start of the command (in a
    // debug build, ArgumentParser validates the whole command tree by reflection).
    @Option(name: .long, help: RedisSentinelOptions.help)
    var redisSentinelPasswordFile: String?

    /// The sentinels' credentials from `--redis-sentinel-password-file` and the `REDIS_SENTINEL_*` variables.
    var sentinel: RedisSentinelOptions { RedisSentinelOptions(passwordFile: redisSentinelPasswordFile) }

    /// The URL from the flag, else from `REDIS_URL` (empty counts as unset); `nil` when neither is given.
    func givenURL(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        redisURL ?? environment[RedisURL.variable].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The TLS settings of the `REDIS_TLS_*` variables.
    func tlsVariables(environment: [String: String] = ProcessInfo.processInfo.environment) -> RedisTLSVariables {
        RedisTLSVariables(environment: environment)
    }

    /// The given URL, else `fallback`, with the TLS settings of the `REDIS_TLS_*` variables, the password and the
    /// sentinels' credentials from the environment or a file added, for APIs that take a URL
    /// (``RefresherConfiguration/redisURL``, the environment of worker processes).
    func url(fallback: String = RedisURL.local) throws -> String {
        try completing(givenURL() ?? fallback)
    }

    /// `url` with the TLS settings of the `REDIS_TLS_*` variables, the password and the sentinels' credentials from
    /// the environment or a file added, for a second URL of a command (`bench --tls-redis-url`).
    func completing(_ url: String) throws -> String {
        try sentinel.apply(toURL: password.apply(toURL: tlsVariables().apply(toURL: url)))
    }

    /// The parsed configuration of the given URL (else `redis://127.0.0.1:6379`), with the TLS settings of the
    /// `REDIS_TLS_*` variables, the password and the sentinels' credentials from the environment or a file and a
    /// client name that shows up in `CLIENT LIST`.
    func configuration(clientName: String) throws -> RedisConfiguration {
        var configuration: RedisConfiguration
        let url = try tlsVariables().apply(toURL: givenURL() ?? RedisURL.local)
        do {
            configuration = try RedisConfiguration(url: url)
        } catch {
            throw CLIError("bad Redis URL: \(error.message)")
        }
        try password.apply(to: &configuration)
        try sentinel.apply(to: &configuration)
        configuration.clientName = configuration.clientName ?? clientName
        return configuration
    }
}

/// The names `RedisOptions` shares with the processes a command starts.
enum RedisURL {
    /// The environment variable with the Redis URL; also how `demo` and `bench` hand it to their worker processes.
    static let variable = "REDIS_URL"
    /// The Redis on this machine's default port.
    static let local = "redis://127.0.0.1:6379"
}

/// What a command does when neither `--redis-url` nor `REDIS_URL` is given, as its help says it.
protocol RedisFallback {
    static var help: String { get }
}

/// The Redis on this machine's default port.
enum LocalRedis: RedisFallback {
    static let help = RedisURL.local
}

/// The local Redis if it answers, else an embedded throwaway `redis-server` (`demo`).
enum LocalOrEmbeddedRedis: RedisFallback {
    static let help = "\(RedisURL.local) if it answers, else an embedded redis-server"
}

/// An embedded throwaway `redis-server`, whose statistics nothing else disturbs (`bench`).
enum EmbeddedRedisServer: RedisFallback {
    static let help = "an embedded throwaway redis-server (clean statistics)"
}
