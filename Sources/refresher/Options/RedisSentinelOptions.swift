import ArgumentParser
import Foundation
import RedisClient
import RedisRefresher

/// The sentinels' own credentials from outside the command line, for a `redis-sentinel://` or `rediss-sentinel://`
/// URL whose sentinels need `AUTH` (often other credentials than the data nodes'; those come from the URL and
/// ``RedisPasswordOptions``).
///
/// Sources: `--redis-sentinel-password-file PATH` (or `REDIS_SENTINEL_PASSWORD_FILE`; the flag wins), whose content
/// is the password with one trailing newline trimmed, or `REDIS_SENTINEL_PASSWORD`; the ACL user from
/// `REDIS_SENTINEL_USERNAME`. Empty variables count as unset. They fill in the URL's `sentinel_password` and
/// `sentinel_username` query items; a value given twice (in the URL and here, or in the variable and a file) is an
/// error rather than a silent choice, and so is a sentinel credential with a URL that does not use Sentinel (a
/// `redis-cluster://` URL included: a cluster has no sentinels).
struct RedisSentinelOptions: Sendable {
    /// `--redis-sentinel-password-file`, an option of ``RedisOptions``.
    var passwordFile: String?

    /// The help of `--redis-sentinel-password-file`.
    static let help = ArgumentHelp(
        "Read the Redis Sentinel password (the sentinels' own, for redis-sentinel:// URLs) from this file "
            + "(default: $REDIS_SENTINEL_PASSWORD_FILE). Or set $REDIS_SENTINEL_PASSWORD; "
            + "$REDIS_SENTINEL_USERNAME names the sentinels' ACL user.",
        valueName: "path"
    )

    static let passwordVariable = "REDIS_SENTINEL_PASSWORD"
    static let fileVariable = "REDIS_SENTINEL_PASSWORD_FILE"
    static let usernameVariable = "REDIS_SENTINEL_USERNAME"

    /// The variables a child process must not inherit once the credentials are part of the `REDIS_URL` it is given.
    static let variables = [passwordVariable, fileVariable, usernameVariable]

    /// The sentinels' credentials given outside the URL.
    struct SentinelCredentials: Sendable {
        /// The ACL user and where it came from.
        var username: (value: String, source: String)?
        /// The password and where it came from.
        var password: (value: String, source: String)?

        var isEmpty: Bool { username == nil && password == nil }

        /// The sources, for messages: `REDIS_SENTINEL_USERNAME and the Sentinel password file`.
        var sources: String { [username?.source, password?.source].compactMap { $0 }.joined(separator: " and ") }
    }

    /// The credentials from the flag, the file and the variables; empty when none is given.
    func credentials(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> SentinelCredentials
    {
        func variable(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        var credentials = SentinelCredentials()
        credentials.username = variable(Self.usernameVariable).map { ($0, Self.usernameVariable) }
        let password = variable(Self.passwordVariable)
        if let path = passwordFile ?? variable(Self.fileVariable) {
            guard password == nil else {
                throw CLIError(
                    "the Redis Sentinel password is given twice, in \(Self.passwordVariable) and in a password file: "
                        + "give one"
                )
            }
            let value = try RedisPasswordOptions.readPassword(path: path, what: "Redis Sentinel password file")
            credentials.password = (value, "the Sentinel password file")
        } else {
            credentials.password = password.map { ($0, Self.passwordVariable) }
        }
        return credentials
    }

    /// `configuration` with the sentinels' credentials from the file or the environment, if any are given.
    func apply(
        to configuration: inout RedisConfiguration,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws {
        let credentials = try credentials(environment: environment)
        guard !credentials.isEmpty else { return }
        guard var sentinel = configuration.sentinel else {
            throw Self.notSentinel(
                credentials,
                url: configuration.redactedDescription,
                cluster: configuration.cluster != nil
            )
        }
        try Self.refuseTwice(sentinel, credentials)
        if let username = credentials.username { sentinel.username = username.value }
        if let password = credentials.password { sentinel.password = password.value }
        configuration.endpoint = .sentinel(sentinel)
    }

    /// `url` with the sentinels' credentials from the file or the environment as its `sentinel_username` and
    /// `sentinel_password` query items, if any are given, for APIs that take a URL: the password stays in this
    /// process's memory and in the environment of the processes it starts, never in an argv. Checked by parsing the
    /// result.
    func apply(toURL url: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String
    {
        let credentials = try credentials(environment: environment)
        guard !credentials.isEmpty else { return url }
        let shown = RedisConfiguration.redactingPassword(inURL: url)
        let configuration: RedisConfiguration
        do {
            configuration = try RedisConfiguration(url: url)
        } catch {
            throw CLIError("bad Redis URL: \(error.message)")
        }
        guard let sentinel = configuration.sentinel else {
            throw Self.notSentinel(credentials, url: shown, cluster: configuration.cluster != nil)
        }
        try Self.refuseTwice(sentinel, credentials)
        var text = RedisURLText(url)
        var expected = sentinel
        if let username = credentials.username {
            text.query.append("sentinel_username=\(URLText.percentEncoded(username.value))"[...])
            expected.username = username.value
        }
        if let password = credentials.password {
            text.query.append("sentinel_password=\(URLText.percentEncoded(password.value))"[...])
            expected.password = password.value
        }
        guard (try? RedisConfiguration(url: text.text))?.sentinel == expected else {
            throw CLIError("cannot add the Sentinel credentials of \(credentials.sources) to the URL \(shown)")
        }
        return text.text
    }

    /// Sentinel credentials with a URL that does not use Sentinel are refused rather than ignored: an operator who
    /// set them expects Sentinel. A Redis Cluster fails over by itself, without sentinels.
    private static func notSentinel(_ credentials: SentinelCredentials, url: String, cluster: Bool) -> CLIError {
        if cluster {
            return CLIError(
                "sentinel credentials are given (\(credentials.sources)), but the Redis URL \(url) names a Redis "
                    + "Cluster, which fails over without sentinels: unset them (the nodes' password is "
                    + "\(RedisPasswordOptions.passwordVariable) or a password file)"
            )
        }
        return CLIError(
            "sentinel credentials are given (\(credentials.sources)), but the Redis URL \(url) does not use Sentinel: "
                + "use redis-sentinel://HOST:PORT,...#PRIMARY, or unset them"
        )
    }

    private static func refuseTwice(_ sentinel: RedisConfiguration.Sentinel, _ credentials: SentinelCredentials) throws
    {
        if let username = credentials.username, sentinel.username != nil {
            throw CLIError(
                "the Redis Sentinel user is given twice, in the URL (sentinel_username) and in \(username.source): "
                    + "give one"
            )
        }
        if let password = credentials.password, sentinel.password != nil {
            throw CLIError(
                "the Redis Sentinel password is given twice, in the URL (sentinel_password) and in "
                    + "\(password.source): give one"
            )
        }
    }
}
