import Foundation
import Logging
import RedisClient
import RedisRefresher
import RedisTestSupport
// `_forEachField` lists a type's stored properties whatever its `customMirror` says: the tests below check that
// every hand-written mirror lists them all, so a property added later cannot be forgotten there.
@_spi(Reflection) import Swift
import Synchronization
import Testing

@Suite("Security", .serialized)
struct SecurityTests {
    /// The least-privilege ACL documented in RELIABILITY.md: the library's own commands, the commands its scripts
    /// run, the `refresher:*` keys and channels, nothing else.
    static let leastPrivilege = [
        "on", ">refresher-pw", "resetkeys", "~refresher:*", "resetchannels", "&refresher:*", "-@all",
        "+evalsha", "+eval", "+script|load", "+type", "+hgetall", "+hget", "+hmget", "+hincrby", "+hset", "+hdel",
        "+get", "+set",
        "+del", "+pttl", "+pexpire", "+time", "+publish", "+subscribe", "+unsubscribe", "+ping", "+client|setname",
    ]

    static func createUser(_ name: String, rules: [String], on server: RedisServerProcess) async throws {
        let admin = try RedisConnection(url: server.url)
        defer { admin.close() }
        var command = RedisCommand("ACL", "SETUSER", RedisArgument(name))
        for rule in rules { command.append(RedisArgument(rule)) }
        try await admin.send(command)
    }

    @Test("The whole protocol works under the least-privilege ACL")
    func leastPrivilegeWorks() async throws {
        try await withRedisServer { server in
            try await Self.createUser("refresher", rules: Self.leastPrivilege, on: server)
            let url = "redis://refresher:refresher-pw@127.0.0.1:\(server.port)"
            let scenario = try Scenario(url: server.url, name: "acl")
            let refresh = scenario.refreshFunction()
            let configuration = RefresherConfiguration(
                redisURL: url,
                session: scenario.session,
                pollInterval: .milliseconds(200)
            )
            try await withRefresher(RedisRefresher(configuration: configuration, refresh: refresh)) { first in
                try await withRefresher(RedisRefresher(configuration: configuration, refresh: refresh)) { second in
                    let (access, refreshToken) = try await scenario.idp.start(salt: scenario.session)
                    let (initial, _) = try await first.seedSession(
                        RefreshedTokens(accessToken: access, refreshToken: refreshToken, expiresIn: .seconds(60))
                    )
                    async let a = first.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(10))
                    async let b = second.refreshAccessTokenOrReLogin(after: initial, timeout: .seconds(10))
                    let (freshA, freshB) = try await (a, b)
                    #expect(freshA.generation == initial.generation + 1)
                    #expect(freshB.generation == initial.generation + 1)
                    #expect(try await scenario.idp.refreshCount() == 1)
                    // Operator tools under the same user.
                    let admin = SessionAdmin(connection: try RedisConnection(url: url), keys: scenario.keys)
                    let status = try await admin.status()
                    #expect(status.generation == initial.generation + 1)
                    #expect(try await admin.release(owner: "nobody") == false)
                }
            }
        }
    }

    @Test("Without a needed permission the refresher fails with a clear redisError, and nothing is lost")
    func missingPermissionFailsClearly() async throws {
        try await withRedisServer { server in
            // Everything but PUBLISH: the scripts that announce outcomes are refused.
            try await Self.createUser("nopublish", rules: Self.leastPrivilege.filter { $0 != "+publish" }, on: server)
            // The right commands but other keys.
            var otherKeys = Self.leastPrivilege
            otherKeys[otherKeys.firstIndex(of: "~refresher:*")!] = "~other:*"
            try await Self.createUser("otherkeys", rules: otherKeys, on: server)
            let scenario = try Scenario(url: server.url, name: "noperm")
            for user in ["nopublish", "otherkeys"] {
                let url = "redis://\(user):refresher-pw@127.0.0.1:\(server.port)"
                try await withRefresher(
                    RedisRefresher(
                        configuration: .init(redisURL: url, session: scenario.session),
                        refresh: scenario.refreshFunction()
                    )
                ) { refresher in
                    do throws(RefresherError) {
                        _ = try await refresher.seedSession(
                            RefreshedTokens(
                                accessToken: "a-\(user)",
                                refreshToken: "r-\(user)",
                                expiresIn: .seconds(60)
                            )
                        )
                        Issue.record("\(user) could seed")
                    } catch {
                        #expect(error.code == .redisError)
                        #expect(
                            ["NOPERM", "permission", "can't run this command"].contains { error.message.contains($0) },
                            "\(error.message)"
                        )
                        #expect(!error.message.contains("a-\(user)"))
                    }
                }
            }
            // Nothing was written by the refused calls.
            #expect(try await scenario.redis.send("EXISTS", RedisArgument(scenario.keys.sessionHash)).int == 0)
        }
    }

    @Test("No token ever appears in log output or error messages during storms, failures and re-logins")
    func tokensNeverLogged() async throws {
        let capture = LogCapture()
        let scenario = try Scenario(name: "leak")
        var logger = Logger(label: "leak-test") { label in CapturingLogHandler(label: label, capture: capture) }
        logger.logLevel = .trace
        let makeRefresher: (Int) async throws -> RedisRefresher = { [logger] _ in
            try await RedisRefresher(
                configuration: scenario.configuration(pollInterval: .milliseconds(200)),
                logger: logger,
                refresh: scenario.refreshFunction()
            )
        }
        let (initial, current, relogin, errors): (Credentials, Credentials, Credentials, [String]) =
            try await withRefreshers(count: 3, makeRefresher) { refreshers in
                let initial = try await scenario.seed(using: refreshers[0])
                var errors: [String] = []
                // A storm, a second wave, a rejected refresh, a re-login, a timeout.
                var current = initial
                for _ in 0..<2 {
                    let generation = current
                    let fresh = try await withThrowingTaskGroup(of: Credentials.self) { group in
                        for refresher in refreshers {
                            for _ in 0..<10 {
                                group.addTask {
                                    try await refresher.refreshAccessTokenOrReLogin(
                                        after: generation,
                                        timeout: .seconds(10)
                                    )
                                }
                            }
                        }
                        return try await group.reduce(into: [Credentials]()) { $0.append($1) }
                    }
                    current = fresh[0]
                }
                try await scenario.idp.revoke()
                for refresher in refreshers {
                    do throws(RefresherError) {
                        _ = try await refresher.refreshAccessTokenOrReLogin(after: current, timeout: .seconds(10))
                    } catch {
                        errors.append(error.description)
                    }
                }
                let relogin = try await refreshers[1].replaceSession(
                    RefreshedTokens(
                        accessToken: "relogin-access-secret",
                        refreshToken: "relogin-refresh-secret",
                        expiresIn: .seconds(60)
                    )
                )
                try await scenario.redis.send("SET", RedisArgument(scenario.keys.lock), "someone:1:0", "PX", "5000")
                do throws(RefresherError) {
                    _ = try await refreshers[2].refreshAccessTokenOrReLogin(after: relogin, timeout: .milliseconds(300))
                } catch {
                    errors.append(error.description)
                }
                return (initial, current, relogin, errors)
            }

        // Every token the identity provider issued, plus the ones given at re-login.
        let issued = try await scenario.idp.refreshCount()
        var tokens = ["relogin-access-secret", "relogin-refresh-secret"]
        for index in 0...issued {
            tokens.append("access-\(scenario.session)-\(index)")
            tokens.append("refresh-\(scenario.session)-\(index)")
        }
        let output =
            capture.lines.joined(separator: "\n") + "\n" + errors.joined(separator: "\n")
            + "\n" + [initial, current, relogin].map(\.description).joined(separator: "\n")
        #expect(capture.lines.count > 10, "the storm logged something")
        #expect(errors.count >= 3)
        for token in tokens {
            #expect(!output.contains(token), "a token leaked: \(TokenFingerprint.of(token))")
        }
    }

    // MARK: printing never shows a secret

    static let password = "redis-Pa55-word"
    static let accessToken = "access-Token-Secret"
    static let refreshToken = "refresh-Token-Secret"

    /// Expects that no rendering of `value` (dump, description, debug description, mirror walk) holds a secret.
    static func expectHidden<T>(
        _ secrets: [String] = [password, accessToken, refreshToken],
        in value: T,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        for secret in secrets {
            let leaks = Renderings.leaking(secret, in: value)
            #expect(leaks.isEmpty, "\(T.self) shows \(secret): \(leaks)", sourceLocation: sourceLocation)
        }
    }

    /// The stored properties of `type`, by name.
    static func storedProperties(of type: Any.Type) -> [String] {
        var names: [String] = []
        _forEachField(of: type, options: []) { name, _, _, _ in
            names.append(String(cString: name))
            return true
        }
        return names
    }

    /// The labels of `value`'s custom mirror.
    static func mirrorLabels(_ value: Any) -> [String] { Mirror(reflecting: value).children.compactMap(\.label) }

    @Test("Credentials and RefreshedTokens show fingerprints, never tokens, however they are printed")
    func credentialsNeverShowTokens() {
        let credentials = Credentials(
            accessToken: Self.accessToken,
            refreshToken: Self.refreshToken,
            expiresAtMilliseconds: 1_700_000_000_000,
            generation: 42,
            refreshedAtMilliseconds: 1_699_999_000_000,
            refreshedBy: "web-1:7:abcd"
        )
        let tokens = RefreshedTokens(
            accessToken: Self.accessToken,
            refreshToken: Self.refreshToken,
            expiresAtMilliseconds: 1_700_000_000_000
        )
        let kept = RefreshedTokens(accessToken: Self.accessToken, refreshToken: nil, expiresAtMilliseconds: nil)
        Self.expectHidden(in: Optional(credentials))
        Self.expectHidden(in: credentials)
        Self.expectHidden(in: [credentials])
        Self.expectHidden(in: Result<Credentials, RefresherError>.success(credentials))
        Self.expectHidden(in: (credentials, tokens))
        Self.expectHidden(in: tokens)
        Self.expectHidden(in: kept)
        Self.expectHidden(in: ["new": tokens])
        // What is not secret stays visible: the fingerprints, the generation, who refreshed.
        var dumped = ""
        dump(credentials, to: &dumped)
        #expect(dumped.contains(TokenFingerprint.of(Self.refreshToken)), "\(dumped)")
        #expect(dumped.contains("generation: 42") && dumped.contains("web-1:7:abcd"), "\(dumped)")
        #expect(String(reflecting: credentials) == credentials.description)
        #expect(String(reflecting: tokens) == tokens.description)
        #expect(Self.mirrorLabels(credentials) == Self.storedProperties(of: Credentials.self))
        #expect(Self.mirrorLabels(tokens) == Self.storedProperties(of: RefreshedTokens.self))
    }

    @Test(
        "RefresherConfiguration shows its Redis URL with *** for the password",
        arguments: [
            ("redis://:\(password)@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
            ("redis://refresher:\(password)@[::1]:6390", "redis://refresher:***@[::1]:6390"),
            ("unix:///run/redis.sock?db=2&password=\(password)", "unix:///run/redis.sock?db=2&password=***"),
            // Not even a URL the parser would refuse.
            ("redis://:\(password)@host:99999", "redis://:***@host:99999"),
            ("redis://:pa/ss\(password)@host", "redis://:***@host"),
        ]
    )
    func configurationHidesPassword(_ url: String, _ shown: String) {
        let configuration = RefresherConfiguration(
            redisURL: url,
            session: "crm-api",
            refreshAhead: .seconds(30)
        )
        Self.expectHidden([Self.password], in: configuration)
        Self.expectHidden([Self.password], in: [configuration])
        #expect(configuration.redactedRedisURL == shown)
        #expect(
            configuration.description.hasPrefix("RefresherConfiguration(redisURL: \"\(shown)\", session: \"crm-api\"")
        )
        #expect(configuration.description.contains("refreshAhead: 30.0 seconds"), "\(configuration)")
        #expect(String(reflecting: configuration) == configuration.description)
        #expect(Self.mirrorLabels(configuration) == Self.storedProperties(of: RefresherConfiguration.self))
    }

    @Test(
        "Errors about a Redis URL with a password never repeat it",
        arguments: [
            "redis://:\(password)@127.0.0.1:99999", "rediss://:\(password)@h?bogus=1", "redis://:\(password)%zz@h",
            "unix:///s?password=\(password)&bogus=1",
        ]
    )
    func urlErrorsHidePassword(_ url: String) async {
        do {
            _ = try RefresherConnections(url: url)
            Issue.record("accepted \(url)")
        } catch {
            #expect(error.code == .invalidConfiguration)
            Self.expectHidden([Self.password], in: error)
        }
        do {
            _ = try await RedisRefresher(
                configuration: RefresherConfiguration(redisURL: url, session: "crm-api"),
                refresh: { _ in RefreshedTokens(accessToken: "a", refreshToken: "r", expiresAtMilliseconds: nil) }
            )
            Issue.record("accepted \(url)")
        } catch {
            Self.expectHidden([Self.password], in: error)
            Self.expectHidden([Self.password], in: "\(error)")
        }
    }

    @Test("A running refresher, its connections, SessionAdmin and its status never show the password or tokens")
    func runningObjectsHideSecrets() async throws {
        try await withRedisServer(["--requirepass", Self.password]) { server in
            let url = "redis://:\(Self.password)@127.0.0.1:\(server.port)"
            let scenario = try Scenario(url: url, name: "redact")
            try await withRefresher(
                RedisRefresher(
                    configuration: scenario.configuration(),
                    refresh: scenario.refreshFunction()
                )
            ) { refresher in
                let (credentials, _) = try await refresher.seedSession(
                    RefreshedTokens(
                        accessToken: Self.accessToken,
                        refreshToken: Self.refreshToken,
                        expiresIn: .seconds(60)
                    )
                )
                // The tokens are in the refresher's cache now.
                #expect(try await refresher.credentials().accessToken == Self.accessToken)
                Self.expectHidden(in: credentials)
                Self.expectHidden(in: refresher)
                Self.expectHidden(in: refresher.connections)
                #expect(refresher.description.contains("redis://:***@127.0.0.1"))
                let admin = SessionAdmin(connection: scenario.redis, keys: scenario.keys)
                Self.expectHidden(in: admin)
                #expect(admin.description.contains(":***@"), "\(admin)")
                let status = try await admin.status()
                #expect(status.accessTokenFingerprint == TokenFingerprint.of(Self.accessToken))
                Self.expectHidden(in: status)

                // A wrong password is refused without being repeated.
                let wrong = "wrong-\(Self.password)-x"
                let refused = try RedisConnection(url: "redis://:\(wrong)@127.0.0.1:\(server.port)")
                do throws(RefresherError) {
                    _ = try await SessionAdmin(connection: refused, keys: scenario.keys).status()
                    Issue.record("a wrong password was accepted")
                } catch {
                    #expect(error.code == .redisError)
                    Self.expectHidden([wrong], in: error)
                }
                refused.close()
            }
        }
    }
}

/// Log lines kept in memory.
final class LogCapture: Sendable {
    private let storage = Mutex<[String]>([])
    func append(_ line: String) { storage.withLock { $0.append(line) } }
    var lines: [String] { storage.withLock { $0 } }
}

/// A LogHandler that renders every record, metadata included, into a ``LogCapture``.
struct CapturingLogHandler: LogHandler {
    let label: String
    let capture: LogCapture
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var all = metadata
        for (key, value) in event.metadata ?? [:] { all[key] = value }
        capture.append("\(event.level) \(event.message) \(all)")
    }
}
