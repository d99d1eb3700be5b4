import RedisClient
import Testing

@Suite("URL parsing")
struct URLParsingTests {
    @Test func hostOnlyUsesDefaults() throws {
        let configuration = try RedisConfiguration(url: "redis://cache.example.com")
        #expect(configuration.endpoint == .tcp(host: "cache.example.com", port: 6379))
        #expect(configuration.database == 0)
        #expect(configuration.username == nil)
        #expect(configuration.password == nil)
    }

    @Test func hostAndPort() throws {
        let configuration = try RedisConfiguration(url: "redis://10.1.2.3:6380")
        #expect(configuration.endpoint == .tcp(host: "10.1.2.3", port: 6380))
        #expect(configuration.database == 0)
    }

    @Test func database() throws {
        #expect(try RedisConfiguration(url: "redis://localhost:6379/5").database == 5)
        #expect(try RedisConfiguration(url: "redis://localhost/15").database == 15)
        #expect(try RedisConfiguration(url: "redis://localhost/").database == 0)
    }

    @Test func userAndPassword() throws {
        let configuration = try RedisConfiguration(url: "redis://alice:s3cret@db.internal:7000/2")
        #expect(configuration.endpoint == .tcp(host: "db.internal", port: 7000))
        #expect(configuration.username == "alice")
        #expect(configuration.password == "s3cret")
        #expect(configuration.database == 2)
    }

    @Test func passwordOnly() throws {
        let configuration = try RedisConfiguration(url: "redis://:s3cret@localhost")
        #expect(configuration.username == nil)
        #expect(configuration.password == "s3cret")
        #expect(configuration.endpoint == .tcp(host: "localhost", port: 6379))
        // The `password@host` shorthand many clients accept.
        let shorthand = try RedisConfiguration(url: "redis://s3cret@localhost")
        #expect(shorthand.username == nil)
        #expect(shorthand.password == "s3cret")
    }

    @Test func percentEncodedUserInfo() throws {
        let configuration = try RedisConfiguration(url: "redis://us%40er:p%40ss%3Aw%2Frd%25%C3%A9@localhost:6379")
        #expect(configuration.username == "us@er")
        #expect(configuration.password == "p@ss:w/rd%é")
        // An unencoded "@" in the password: the user info ends at the last "@".
        let lastAt = try RedisConfiguration(url: "redis://:p@ss@localhost")
        #expect(lastAt.password == "p@ss")
        #expect(lastAt.endpoint == .tcp(host: "localhost", port: 6379))
    }

    @Test func ipv6() throws {
        let configuration = try RedisConfiguration(url: "redis://[::1]:6380")
        #expect(configuration.endpoint == .tcp(host: "::1", port: 6380))
        let defaultPort = try RedisConfiguration(url: "redis://:pw@[2001:db8::7]/4")
        #expect(defaultPort.endpoint == .tcp(host: "2001:db8::7", port: 6379))
        #expect(defaultPort.password == "pw")
        #expect(defaultPort.database == 4)
        // The redacted description puts the brackets back.
        #expect(configuration.redactedDescription == "redis://[::1]:6380/0")
    }

    @Test func unixSocket() throws {
        let configuration = try RedisConfiguration(url: "unix:///var/run/redis/redis.sock?db=2&password=x")
        #expect(configuration.endpoint == .unix(path: "/var/run/redis/redis.sock"))
        #expect(configuration.database == 2)
        #expect(configuration.password == "x")
        #expect(configuration.username == nil)

        let plain = try RedisConfiguration(url: "unix:///tmp/redis.sock")
        #expect(plain.endpoint == .unix(path: "/tmp/redis.sock"))
        #expect(plain.database == 0)
        #expect(plain.password == nil)

        let withUser = try RedisConfiguration(url: "unix:///tmp/redis.sock?user=bob&password=p%26w")
        #expect(withUser.username == "bob")
        #expect(withUser.password == "p&w")
    }

    @Test func redactedDescriptionHidesPassword() throws {
        let tcp = try RedisConfiguration(url: "redis://alice:hunter2@localhost:6379/1")
        #expect(tcp.redactedDescription == "redis://alice:***@localhost:6379/1")
        #expect(!tcp.redactedDescription.contains("hunter2"))
        let unix = try RedisConfiguration(url: "unix:///tmp/r.sock?password=hunter2")
        #expect(!unix.redactedDescription.contains("hunter2"))
        #expect(unix.redactedDescription.contains("***"))
    }

    static let rejected: [String] = [
        // Empty, wrong schemes.
        "", "http://x", "redis:/x", "x:6379", "redis://", "rediss://",
        // Bad ports.
        "redis://x:0", "redis://x:70000", "redis://x:abc", "redis://x:", "redis://x:-1", "redis://x:+6379",
        "redis://x:6379:1", "redis://[::1]:0", "redis://[::1]x", "redis://[::1",
        // Bad databases.
        "redis://x/x", "redis://x/-1", "redis://x/1/2", "redis://x/+3", "redis://x/1.5",
        "unix:///tmp/r.sock?db=x", "unix:///tmp/r.sock?db=-1", "unix:///tmp/r.sock?db=+1",
        // Spaces, newlines and control characters.
        "redis://x :6379", " redis://x", "redis://x\n", "redis://x\r\n/0", "redis://x\t", "redis://\u{0}x",
        "redis://x\u{7F}", "redis://us er:pw@x", "unix:///tmp/r sock",
        // Bad percent-escapes.
        "redis://:pw%@x", "redis://:pw%2@x", "redis://:pw%zz@x", "redis://:%FF@x", "unix:///tmp/r.sock?password=%G1",
        // Hosts with characters a host cannot have.
        "redis://ho$t", "redis://a,b:6379", "redis://ex ample", "redis://host;rm", "redis://hö.st",
        "redis://[::1;x]:6379", "redis://[]:6379", "redis://[fe80::1/x]",
        // Query strings and fragments on redis://, unknown or malformed unix:// items.
        "redis://x?db=1", "redis://x#frag", "unix:///tmp/r.sock?foo=1", "unix:///tmp/r.sock?db",
        "unix://relative.sock",
        // Unknown, repeated, malformed or empty TLS items; fragments.
        "rediss://x?foo=1", "rediss://x?ca_file", "rediss://x?ca_file=a&ca_file=b", "rediss://x?ca_file=%zz",
        "rediss://x?insecure_skip_verify=yes", "rediss://x#frag", "rediss://x?db=1",
    ]

    @Test(arguments: rejected)
    func rejects(_ url: String) {
        let error = #expect(throws: RedisError.self, "\(url.debugDescription) must be rejected") {
            try RedisConfiguration(url: url)
        }
        #expect(error?.code == .invalidURL)
    }

    @Test func tlsURLWithoutSettingsVerifiesAgainstTheSystemStore() throws {
        let configuration = try RedisConfiguration(url: "rediss://cache:6380")
        #expect(configuration.endpoint == .tcp(host: "cache", port: 6380))
        #expect(configuration.tls == RedisConfiguration.TLS())
        #expect(configuration.tls?.insecureSkipVerify == false)
        #expect(configuration.redactedDescription == "rediss://cache:6380/0")
    }

    static let passwordsInBadURLs: [String] = [
        "redis://:TopSecret1@x:0",
        "redis://:TopSecret1@x:70000",
        "redis://alice:TopSecret1@x:abc",
        "redis://alice:TopSecret1@x/-1",
        "redis://alice:TopSecret1@h$st",
        "redis://alice:TopSecret1%zz@x",
        "redis://alice:TopSecret1@x?db=1",
        "redis://alice:Top Secret1@x",
        "rediss://alice:TopSecret1@x?nope=1",
        "http://alice:TopSecret1@x",
        "unix:///tmp/r.sock?password=TopSecret1&db=x",
        "unix:///tmp/r.sock?password=TopSecret1%",
    ]

    @Test(arguments: passwordsInBadURLs)
    func errorNeverContainsPassword(_ url: String) throws {
        let error = try #require(throws: RedisError.self) { try RedisConfiguration(url: url) }
        #expect(error.code == .invalidURL)
        #expect(!error.message.contains("TopSecret"))
        #expect(!error.description.contains("TopSecret"))
        #expect(!"\(error)".contains("TopSecret"))
    }

    @Test func validateRejectsOutOfRangeValues() throws {
        let base = try RedisConfiguration(url: "redis://localhost")
        var badPort = base
        badPort.endpoint = .tcp(host: "localhost", port: 0)
        var emptyHost = base
        emptyHost.endpoint = .tcp(host: "", port: 6379)
        var negativeDatabase = base
        negativeDatabase.database = -1
        var zeroTimeout = base
        zeroTimeout.commandTimeout = .zero
        var badName = base
        badName.clientName = "has space"
        var longPath = base
        longPath.endpoint = .unix(path: "/" + String(repeating: "a", count: 200))
        for configuration in [badPort, emptyHost, negativeDatabase, zeroTimeout, badName, longPath] {
            let error = #expect(throws: RedisError.self) { try RedisConnection(configuration: configuration) }
            #expect(error?.code == .invalidConfiguration)
        }
        try base.validate()
    }
}
