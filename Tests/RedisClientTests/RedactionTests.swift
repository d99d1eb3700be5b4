import RedisClient
import RedisTestSupport
import Testing

/// No client type shows a password or a command argument through `dump`, `String(describing:)`,
/// `String(reflecting:)` or its `Mirror` (walked recursively).
@Suite("Redaction of passwords and command arguments")
struct RedactionTests {
    static let secret = "s3cret-Pa55word"

    static func expectHidden<T>(
        _ secret: String,
        in value: T,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let leaks = Renderings.leaking(secret, in: value)
        #expect(leaks.isEmpty, "\(T.self) shows the secret: \(leaks)", sourceLocation: sourceLocation)
    }

    /// A value without redaction, to show that the check sees what default printing shows.
    struct Unredacted {
        var password: String
    }

    @Test("The check finds a secret in every rendering of a type with default printing")
    func checkFindsLeaks() {
        let value = Unredacted(password: Self.secret)
        #expect(Renderings.leaking(Self.secret, in: value).count == Renderings.of(value).count)
        // Nested: found through the mirror walk too.
        #expect(Renderings.leaking(Self.secret, in: [[value]]).count == Renderings.of([[value]]).count)
    }

    @Test(
        "RedisConfiguration never shows its password",
        arguments: [
            "redis://:\(secret)@127.0.0.1:6390/2", "redis://alice:\(secret)@[::1]:6390", "redis://\(secret)@localhost",
            "unix:///tmp/redis.sock?db=1&user=alice&password=\(secret)",
            "redis-sentinel://:\(secret)@127.0.0.1:26379,127.0.0.1:26380/1?sentinel_password=\(secret)#mymaster",
        ]
    )
    func configuration(_ url: String) throws {
        var configuration = try RedisConfiguration(url: url)
        configuration.clientName = "app"
        #expect(configuration.password == Self.secret)
        Self.expectHidden(Self.secret, in: configuration)
        #expect(String(describing: configuration).contains("***"))
        #expect(String(reflecting: configuration).contains("password: ***"))
        let password = Mirror(reflecting: configuration).children.first { $0.label == "password" }?.value
        #expect(password.map { String(describing: $0) } == #"Optional("***")"#)
        // Inside other values too: optionals, arrays, dictionaries.
        Self.expectHidden(Self.secret, in: [configuration])
        Self.expectHidden(Self.secret, in: Optional(configuration))
        Self.expectHidden(Self.secret, in: ["primary": configuration])
    }

    @Test("A configuration without a password says nil; its other settings stay visible")
    func configurationWithoutPassword() throws {
        let configuration = try RedisConfiguration(url: "redis://127.0.0.1:6390/3")
        #expect(configuration.description == "redis://127.0.0.1:6390/3")
        #expect(String(reflecting: configuration).contains("password: nil"))
        let labels = Mirror(reflecting: configuration).children.compactMap(\.label)
        #expect(
            labels == [
                "endpoint", "username", "password", "database", "connectTimeout", "commandTimeout", "keepAlive",
                "clientName", "tls",
            ]
        )
    }

    @Test(
        "redactingPassword(inURL:) hides the password of any URL, even a malformed one",
        arguments: [
            ("redis://:\(secret)@h:1/0", "redis://:***@h:1/0"),
            ("redis://user:\(secret)@h", "redis://user:***@h"),
            ("redis://\(secret)@h", "redis://***@h"),
            ("rediss://u:\(secret)@h:6380", "rediss://u:***@h:6380"),
            ("unix:///tmp/a@b.sock?password=\(secret)&db=2", "unix:///tmp/a@b.sock?password=***&db=2"),
            (
                "redis-sentinel://:\(secret)@h:1,h:2/0?sentinel_username=s&sentinel_password=\(secret)",
                "redis-sentinel://:***@h:1,h:2/0?sentinel_username=s&sentinel_password=***"
            ),
            (
                "redis-sentinel://h:1/0?sentinel_password=\(secret)#mymaster",
                "redis-sentinel://h:1/0?sentinel_password=***#mymaster"
            ),
            // A "#" inside a password is not a fragment.
            ("unix:///run/redis.sock?password=hunter#\(secret)", "unix:///run/redis.sock?password=***"),
            ("redis://h?password=x#\(secret)", "redis://h?password=***"),
            // Malformed: "/", "?", "@" and "&" inside the password, a bad port, no scheme.
            ("redis://:pa/ss\(secret)@h", "redis://:***@h"),
            ("redis://:\(secret)?x@h", "redis://:***@h"),
            ("redis://:\(secret)@x@h", "redis://:***@h"),
            ("unix:///s?password=\(secret)&tail", "unix:///s?password=***&***"),
            ("redis://:\(secret)@h:99999", "redis://:***@h:99999"),
            ("user:\(secret)@h", "user:***@h"),
            // Nothing to hide.
            ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
            ("redis://user:@h", "redis://user:@h"),
            ("unix:///tmp/redis.sock?db=1", "unix:///tmp/redis.sock?db=1"),
        ]
    )
    func redactingURL(_ url: String, _ expected: String) {
        let redacted = RedisConfiguration.redactingPassword(inURL: url)
        #expect(redacted == expected)
        #expect(!redacted.contains(Self.secret))
    }

    @Test(
        "Errors from URLs that hold a password never repeat it",
        arguments: [
            "redis://:\(secret)@127.0.0.1:99999", "redis://:\(secret)%zz@h", "redis://:\(secret)@h/x",
            "rediss://:\(secret)@h?x=1", "http://:\(secret)@h", "redis://:\(secret)@h?x=1",
            "redis://:\(secret)@bad host",
            "unix://relative?password=\(secret)", "unix:///s?password=\(secret)&bogus=1",
            "redis://:\(secret)@[::1", "redis://:\(secret)@h:+1",
        ]
    )
    func urlErrors(_ url: String) {
        #expect(throws: RedisError.self) { try RedisConfiguration(url: url) }
        do {
            _ = try RedisConfiguration(url: url)
        } catch {
            #expect(error.code == .invalidURL)
            Self.expectHidden(Self.secret, in: error)
            #expect(!error.message.contains(Self.secret))
        }
    }

    @Test("RedisCommand and RedisArgument show the command name and sizes, never an argument")
    func commands() {
        let auth = RedisCommand("AUTH", "alice", RedisArgument(Self.secret))
        Self.expectHidden(Self.secret, in: auth)
        Self.expectHidden("alice", in: auth)
        #expect(auth.description == "RedisCommand(AUTH <5 bytes> <15 bytes>)")
        #expect(String(reflecting: auth) == auth.description)

        let set = RedisCommand("set", "refresher:{s}:session", RedisArgument(Array(Self.secret.utf8)), "PX", 1000)
        Self.expectHidden(Self.secret, in: set)
        #expect(set.description == "RedisCommand(SET <21 bytes> <15 bytes> <2 bytes> <4 bytes>)")
        let children = Mirror(reflecting: set).children.map { "\($0.label ?? ""): \($0.value)" }
        #expect(children == [#"name: SET"#, #"arguments: ["<21 bytes>", "<15 bytes>", "<2 bytes>", "<4 bytes>"]"#])
        // A "name" that is no command name (a secret passed first by mistake) is not shown either.
        Self.expectHidden(Self.secret, in: RedisCommand(RedisArgument(Self.secret + " x")))
        #expect(RedisCommand([]).description == "RedisCommand()")

        for argument in [RedisArgument(Self.secret), RedisArgument(Array(Self.secret.utf8))] {
            Self.expectHidden(Self.secret, in: argument)
            #expect(argument.description == "<15 bytes>")
            #expect(argument.byteCount == 15)
        }
        #expect(RedisArgument("x").description == "<1 byte>")
        Self.expectHidden(Self.secret, in: [auth, set])
    }

    @Test("RedisValue shows bulk strings as their size")
    func values() {
        let reply = RedisValue.array([.bulk(Array("access_token".utf8)), .bulk(Array(Self.secret.utf8)), .integer(7)])
        Self.expectHidden(Self.secret, in: reply)
        // The bytes of a bulk string do not show as numbers either.
        Self.expectHidden("115, 51, 99", in: reply)
        #expect(String(reflecting: reply) == "[$<12 bytes>, $<15 bytes>, :7]")
    }

    @Test("Connections, subscribers and monitors never show the password of their configuration")
    func connections() throws {
        let configuration = try RedisConfiguration(url: "redis://alice:\(Self.secret)@127.0.0.1:1")
        // No I/O happens until the first command: nothing listens on port 1, and nothing needs to.
        let connection = try RedisConnection(configuration: configuration)
        defer { connection.close() }
        Self.expectHidden(Self.secret, in: connection)
        #expect(connection.description == "RedisConnection(redis://alice:***@127.0.0.1:1/0)")
        let subscriber = try RedisSubscriber(configuration: configuration)
        defer { subscriber.close() }
        Self.expectHidden(Self.secret, in: subscriber)
        let monitor = try RedisMonitor(configuration: configuration)
        defer { monitor.close() }
        Self.expectHidden(Self.secret, in: monitor)
    }

    @Test("A failed AUTH names neither the password nor the user's command")
    func failedAuth() async throws {
        try await withRedisServer(["--requirepass", "the-right-one"]) { server in
            let connection = try RedisConnection(
                configuration: RedisClientTests.configuration(for: server, userInfo: ":\(Self.secret)@")
            )
            defer { connection.close() }
            await #expect(throws: RedisError.self) { try await connection.send("PING") }
            do {
                try await connection.send("PING")
            } catch {
                Self.expectHidden(Self.secret, in: error)
            }
            Self.expectHidden(Self.secret, in: connection)
        }
    }
}
