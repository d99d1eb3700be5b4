import ArgumentParser
import ChildProcesses
import Foundation
import RedisRefresher
import Testing

@testable import refresher

/// `REDIS_SENTINEL_USERNAME`, `REDIS_SENTINEL_PASSWORD`, `REDIS_SENTINEL_PASSWORD_FILE` and
/// `--redis-sentinel-password-file` merged into a Sentinel URL or configuration, and the URL edits they share with
/// `REDIS_PASSWORD` and `REDIS_TLS_*`.
@Suite("REDIS_SENTINEL_* credentials merged into a Sentinel URL")
struct RedisSentinelOptionsTests {
    static let url = "redis-sentinel://10.0.0.1:26379,10.0.0.2:26380/2#mymaster"
    static let password = "s#cret&pw/1"

    /// The sentinel credentials of a command parsed from `arguments`.
    static func options(_ arguments: [String] = []) throws -> RedisSentinelOptions {
        try StatusCommand.parse(arguments).options.redis.sentinel
    }

    @Test("RedisURLText splits and reassembles every URL form as written")
    func urlText() {
        let forms = [
            "redis://:pw@h:1/2", "rediss://u:p@h:6380/0?ca_file=/ca.pem&server_name=x", "unix:///tmp/r@s.sock?db=1",
            "redis-sentinel://u:p@a:1,[::1]:2/3?sentinel_username=s#primary", "rediss-sentinel://a#p",
            "redis://h", "no-scheme",
        ]
        for form in forms { #expect(RedisURLText(form).text == form) }
        let sentinel = RedisURLText("rediss-sentinel://u:p@a:1,b:2/3?ca_file=/c.pem&sentinel_username=s#mymaster")
        #expect(sentinel.scheme == "rediss-sentinel://")
        #expect(sentinel.userInfo == "u:p")
        #expect(sentinel.user == "u")
        #expect(sentinel.location == "a:1,b:2/3")
        #expect(sentinel.query == ["ca_file=/c.pem", "sentinel_username=s"])
        #expect(sentinel.queryNames == ["ca_file", "sentinel_username"])
        #expect(sentinel.fragment == "mymaster")
        #expect(sentinel.isSentinel && sentinel.isTLS)
        // The socket path of a unix:// URL may hold an "@": it is no user info.
        #expect(RedisURLText("unix:///tmp/r@s.sock").userInfo == nil)
        #expect(RedisURLText("redis://h:1?").query.isEmpty)
    }

    @Test("The sentinels' password and user from the environment become query items before the primary's name")
    func intoURL() throws {
        let merged = try Self.options().apply(
            toURL: Self.url,
            environment: ["REDIS_SENTINEL_PASSWORD": Self.password, "REDIS_SENTINEL_USERNAME": "watcher"]
        )
        #expect(
            merged
                == "redis-sentinel://10.0.0.1:26379,10.0.0.2:26380/2?sentinel_username=watcher"
                + "&sentinel_password=s%23cret%26pw%2F1#mymaster"
        )
        let sentinel = try #require(try RedisConfiguration(url: merged).sentinel)
        #expect(sentinel.password == Self.password)
        #expect(sentinel.username == "watcher")
        #expect(sentinel.primaryName == "mymaster")
        #expect(sentinel.nodes.count == 2)
        // Without any, the URL passes unchanged, whatever its scheme.
        #expect(try Self.options().apply(toURL: "redis://h:1", environment: [:]) == "redis://h:1")
        #expect(try Self.options().apply(toURL: Self.url, environment: ["REDIS_SENTINEL_PASSWORD": ""]) == Self.url)
    }

    @Test("The data nodes' password and the sentinels' credentials both go into one Sentinel URL")
    func bothPasswords() throws {
        let configuration = try RedisConfiguration(url: Self.url)
        let withPassword = try RedisPasswordOptions.url(Self.url, configuration: configuration, password: "data:pw")
        #expect(withPassword == "redis-sentinel://:data%3Apw@10.0.0.1:26379,10.0.0.2:26380/2#mymaster")
        let merged = try Self.options().apply(
            toURL: withPassword,
            environment: ["REDIS_SENTINEL_PASSWORD": Self.password]
        )
        let parsed = try RedisConfiguration(url: merged)
        #expect(parsed.password == "data:pw")
        #expect(parsed.sentinel?.password == Self.password)
        #expect(parsed.database == 2)
        // An ACL user written in the URL is kept.
        let user = "redis-sentinel://app:@h:1#p"
        let withUser = try RedisPasswordOptions.url(
            user,
            configuration: try RedisConfiguration(url: user),
            password: "x"
        )
        #expect(withUser == "redis-sentinel://app:x@h:1#p")
    }

    @Test("The credentials fill in a parsed configuration; the data nodes' password stays apart")
    func intoConfiguration() throws {
        var configuration = try RedisConfiguration(url: "redis-sentinel://:data@h1,h2:26380#cache")
        try Self.options().apply(
            to: &configuration,
            environment: ["REDIS_SENTINEL_PASSWORD": Self.password, "REDIS_SENTINEL_USERNAME": "watcher"]
        )
        #expect(configuration.password == "data")
        #expect(configuration.sentinel?.password == Self.password)
        #expect(configuration.sentinel?.username == "watcher")
        #expect(!configuration.redactedDescription.contains(Self.password))
        #expect(!"\(configuration)".contains(Self.password))
    }

    @Test("A password file, from the flag or the variable; the flag wins; the variable and a file together fail")
    func passwordFile() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sentinel-pw-\(UUID().uuidString)")
        try Data((Self.password + "\n").utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let fromFlag = try Self.options(["--redis-sentinel-password-file", file.path]).credentials(
            environment: ["REDIS_SENTINEL_PASSWORD_FILE": "/nonexistent"]
        )
        #expect(fromFlag.password?.value == Self.password)
        let fromVariable = try Self.options().credentials(environment: ["REDIS_SENTINEL_PASSWORD_FILE": file.path])
        #expect(fromVariable.password?.value == Self.password)
        do {
            _ = try Self.options(["--redis-sentinel-password-file", file.path]).credentials(
                environment: ["REDIS_SENTINEL_PASSWORD": "other"]
            )
            Issue.record("a password from the variable and a file was accepted")
        } catch let error as CLIError {
            #expect(error.description.contains("given twice"), "\(error)")
            #expect(!error.description.contains(Self.password))
        }
        do {
            _ = try Self.options().credentials(environment: ["REDIS_SENTINEL_PASSWORD_FILE": "/nonexistent/pw"])
            Issue.record("a missing file was accepted")
        } catch let error as CLIError {
            #expect(error.description.hasPrefix("cannot read the Redis Sentinel password file /nonexistent/pw"))
        }
    }

    @Test(
        "Given twice, or with a URL that does not use Sentinel, is a one-line error that never shows the password",
        arguments: ["password twice", "user twice", "plain URL", "unix URL", "plain URL configuration"]
    )
    func refused(_ problem: String) throws {
        let environment = ["REDIS_SENTINEL_PASSWORD": Self.password, "REDIS_SENTINEL_USERNAME": "watcher"]
        let expected: String
        do {
            switch problem {
            case "password twice":
                expected = "the Redis Sentinel password is given twice"
                _ = try Self.options().apply(
                    toURL: "redis-sentinel://h?sentinel_password=other#p",
                    environment: ["REDIS_SENTINEL_PASSWORD": Self.password]
                )
            case "user twice":
                expected = "the Redis Sentinel user is given twice"
                _ = try Self.options().apply(
                    toURL: "redis-sentinel://h?sentinel_username=other#p",
                    environment: environment
                )
            case "plain URL":
                expected = "does not use Sentinel"
                _ = try Self.options().apply(toURL: "redis://:pw@h:1", environment: environment)
            case "unix URL":
                expected = "does not use Sentinel"
                _ = try Self.options().apply(toURL: "unix:///tmp/r.sock", environment: environment)
            default:
                expected = "does not use Sentinel"
                var configuration = try RedisConfiguration(url: "redis://h:1")
                try Self.options().apply(to: &configuration, environment: environment)
            }
            Issue.record("\(problem) was accepted")
        } catch let error as CLIError {
            #expect(error.description.contains(expected), "\(error)")
            #expect(!error.description.contains(Self.password))
            #expect(!error.description.contains("\n"))
        }
    }

    @Test("REDIS_TLS_* variables fill in a rediss-sentinel:// URL before its primary's name; redis-sentinel:// refuses")
    func tlsVariables() throws {
        let variables = RedisTLSVariables(environment: ["REDIS_TLS_CA_FILE": "/etc/ca.pem"])
        let merged = try variables.apply(toURL: "rediss-sentinel://a:1,b:2?sentinel_username=w#mymaster")
        #expect(merged == "rediss-sentinel://a:1,b:2?sentinel_username=w&ca_file=/etc/ca.pem#mymaster")
        let configuration = try RedisConfiguration(url: merged)
        #expect(configuration.tls?.caFile == "/etc/ca.pem")
        #expect(configuration.sentinel?.primaryName == "mymaster")
        #expect(throws: CLIError.self) { try variables.apply(toURL: "redis-sentinel://a:1#mymaster") }
    }

    @Test("Processes the command starts do not inherit the sentinel variables: their REDIS_URL holds the credentials")
    func childProcessesDoNotInherit() {
        let configuration = ChildProcess.Configuration.refresher(["worker"], environment: [:])
        for variable in ["REDIS_SENTINEL_PASSWORD", "REDIS_SENTINEL_PASSWORD_FILE", "REDIS_SENTINEL_USERNAME"] {
            #expect(configuration.removingEnvironment.contains(variable))
        }
    }
}
