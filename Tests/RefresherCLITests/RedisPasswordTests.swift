import Foundation
import RedisRefresher
import RedisTestSupport
import Testing

/// `REDIS_PASSWORD`, `--redis-password-file` and `REDIS_PASSWORD_FILE`: the password reaches a server started with
/// `--requirepass` without ever being in a process's argv (what `ps` shows).
@Suite("refresher: the Redis password outside argv", .serialized)
struct RedisPasswordTests {
    /// A password no other process on the machine has in its argv.
    static let password = "pw-\(UUID().uuidString.prefix(12))-x/y&z"
    static let passwordVariables = ["REDIS_PASSWORD", "REDIS_PASSWORD_FILE"]

    /// A password-protected server and a session stored on it.
    struct Protected {
        let server: RedisServerProcess
        let fixture: OperatorFixture

        /// The server's Unix socket.
        let socket = "/tmp/redis-pw-\(UUID().uuidString.prefix(8)).sock"

        init() async throws {
            server = try await RedisServerProcess(
                arguments: ["--requirepass", RedisPasswordTests.password, "--unixsocket", socket])
            let encoded = RedisPasswordTests.password.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            fixture = try OperatorFixture(url: "redis://:\(encoded)@127.0.0.1:\(server.port)")
            try await fixture.storeSession(expiresIn: .seconds(3600))
        }

        /// `command` against the server, its URL without the password.
        func arguments(_ command: [String]) -> [String] {
            command + ["--session", fixture.name, "--redis-url", server.url]
        }

        func run(
            _ command: [String],
            environment: [String: String] = [:],
            stdin: String? = nil
        ) async throws
            -> CLI.Result
        {
            try await CLI.run(
                arguments(command),
                stdin: stdin,
                environment: environment,
                removing: RedisPasswordTests.passwordVariables.filter { environment[$0] == nil }
            )
        }

        /// Starts a protected server, runs `body` with it, and stops it whether or not `body` throws.
        static func with<T>(
            isolation: isolated (any Actor)? = #isolation,
            _ body: (Protected) async throws -> T
        ) async throws -> T {
            let protected = try await Protected()
            do {
                let result = try await body(protected)
                try await protected.stop()
                return result
            } catch {
                try? await protected.stop()
                throw error
            }
        }

        func stop() async throws {
            fixture.redis.close()
            try await server.stop()
            // A killed server leaves its socket file behind.
            try? FileManager.default.removeItem(atPath: socket)
        }
    }

    /// A file holding `content`, removed by the caller.
    static func passwordFile(_ content: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("redis-pw-\(UUID().uuidString)")
        try Data(content.utf8).write(to: url)
        return url
    }

    static func expectNoPassword(in result: CLI.Result, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!result.stdout.contains(password), sourceLocation: sourceLocation)
        #expect(!result.stderr.contains(password), sourceLocation: sourceLocation)
    }

    @Test("status and session put reach a --requirepass server with the password from the environment or a file")
    func passwordFromEnvironmentOrFile() async throws {
        try await Protected.with { protected in
            let plain = try Self.passwordFile(Self.password + "\n")
            let windows = try Self.passwordFile(Self.password + "\r\n")
            defer {
                try? FileManager.default.removeItem(at: plain)
                try? FileManager.default.removeItem(at: windows)
            }
            // Without the password the server refuses.
            let refused = try await protected.run(["status"])
            #expect(refused.status == 1)
            #expect(refused.stderr.contains("NOAUTH") || refused.stderr.contains("refused"), "\(refused.stderr)")

            let ways: [(String, [String], [String: String])] = [
                ("REDIS_PASSWORD", [], ["REDIS_PASSWORD": Self.password]),
                ("--redis-password-file", ["--redis-password-file", plain.path], [:]),
                ("REDIS_PASSWORD_FILE", [], ["REDIS_PASSWORD_FILE": windows.path]),
                // The flag wins over the variable for the file's path.
                ("flag over variable", ["--redis-password-file", plain.path], ["REDIS_PASSWORD_FILE": "/nonexistent"]),
            ]
            for (way, flags, environment) in ways {
                let result = try await protected.run(["status", "--json"] + flags, environment: environment)
                #expect(result.status == 0, "\(way): \(result.stderr)")
                let object = try OperatorFixture.jsonObject(result.stdout)
                #expect(object["state"] as? String == "ok", "\(way)")
                #expect(object["generation"] as? Int == 1, "\(way)")
                #expect(object["redis"] as? String == "redis://:***@127.0.0.1:\(protected.server.port)/0", "\(way)")
                Self.expectNoPassword(in: result)
            }
            // A unix:// URL gets the password too.
            let unix = try await CLI.run(
                ["status", "--session", protected.fixture.name, "--redis-url", "unix://\(protected.socket)?db=0"],
                environment: ["REDIS_PASSWORD": Self.password],
                removing: ["REDIS_PASSWORD_FILE"]
            )
            #expect(unix.status == 0, "\(unix.stderr)")
            #expect(OperatorFixture.rows(unix.stdout)["redis"] == "unix://\(protected.socket)?db=0&password=***")
            Self.expectNoPassword(in: unix)
            let put = try await protected.run(
                ["session", "put", "--redis-password-file", plain.path],
                stdin: #"{"access_token":"new-a","refresh_token":"new-r","expires_in":60}"#
            )
            #expect(put.status == 0, "\(put.stderr)")
            #expect(try await protected.fixture.field("generation") == "2")
        }
    }

    @Test(
        "A missing, unreadable or empty password file, or a password given twice, is one line and exit 1",
        arguments: ["missing", "directory", "empty", "newline only", "url and variable", "variable and file"]
    )
    func badPasswordSources(_ problem: String) async throws {
        let empty = try Self.passwordFile("")
        let newline = try Self.passwordFile("\n")
        let good = try Self.passwordFile(Self.password)
        defer { for file in [empty, newline, good] { try? FileManager.default.removeItem(at: file) } }
        var flags: [String] = []
        var environment: [String: String] = [:]
        var url = "redis://127.0.0.1:1"
        let expected: String
        switch problem {
        case "missing":
            flags = ["--redis-password-file", "/nonexistent/redis-password"]
            expected = "cannot read the Redis password file /nonexistent/redis-password: No such file or directory"
        case "directory":
            environment["REDIS_PASSWORD_FILE"] = FileManager.default.temporaryDirectory.path
            expected = "Is a directory"
        case "empty":
            flags = ["--redis-password-file", empty.path]
            expected = "it is empty"
        case "newline only":
            flags = ["--redis-password-file", newline.path]
            expected = "it is empty"
        case "url and variable":
            url = "redis://:\(Self.password.prefix(8))@127.0.0.1:1"
            environment["REDIS_PASSWORD"] = Self.password
            expected = "given twice, in the URL and in REDIS_PASSWORD"
        default:
            flags = ["--redis-password-file", good.path]
            environment["REDIS_PASSWORD"] = Self.password
            expected = "given twice, in REDIS_PASSWORD and in a password file"
        }
        for command in [["status"], ["release", "--force", "--yes"], ["watch"]] {
            let result = try await CLI.run(
                command + ["--session", "cli-pw", "--redis-url", url] + flags,
                environment: environment,
                removing: Self.passwordVariables.filter { environment[$0] == nil },
                timeout: .seconds(30)
            )
            OperatorFixture.expectOneLineError(result, exitCode: 1)
            #expect(result.stderr.contains(expected), "\(problem): \(result.stderr)")
            Self.expectNoPassword(in: result)
        }
    }

    /// The argv of process `pid` as `ps` shows it; `nil` once it is gone.
    static func commandLine(of pid: Int32) -> String? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
        return String(decoding: data.map { $0 == 0 ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
    }

    /// The parent process id of `pid` (`/proc/PID/stat`: `pid (name) state ppid ...`).
    static func parent(of pid: Int32) -> Int32? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/stat") else { return nil }
        let stat = String(decoding: data, as: UTF8.self)
        guard let nameEnd = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: nameEnd)...].split(separator: " ")
        return fields.count > 1 ? Int32(fields[1]) : nil
    }

    /// The argv of every process on the machine that `ps` can see, by pid.
    static func allCommandLines() -> [Int32: String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        var lines: [Int32: String] = [:]
        for entry in entries {
            guard let pid = Int32(entry), let line = commandLine(of: pid) else { continue }
            lines[pid] = line
        }
        return lines
    }

    @Test("watch, connected with the password from a file, has no password in its argv")
    func watchArgv() async throws {
        try await Protected.with { protected in
            let file = try Self.passwordFile(Self.password + "\n")
            defer { try? FileManager.default.removeItem(at: file) }
            let watch = try await CLIProcess(
                protected.arguments(["watch", "--redis-password-file", file.path]),
                removing: Self.passwordVariables
            )
            defer { watch.kill() }
            // Subscribed: the AUTH with the file's password succeeded.
            try await watch.waitForSubscription()
            let argv = try #require(Self.commandLine(of: watch.pid))
            #expect(argv.contains("--redis-password-file \(file.path)"), "\(argv)")
            #expect(!argv.contains(Self.password))
            watch.signal(SIGTERM)
            #expect(try await watch.waitForExit() == 0)
            #expect(!watch.stderr.contains(Self.password) && !watch.stdout.contains(Self.password))
        }
    }

    @Test("demo with REDIS_PASSWORD: the fleet works, and no process ever has the password in its argv")
    func demoArgv() async throws {
        try await withRedisServer(["--requirepass", Self.password]) { server in
            let demo = try await CLIProcess(
                [
                    "demo", "--redis-url", server.url, "--processes", "2", "--tasks", "2", "--duration", "3",
                    "--token-ttl", "1", "--latency-ms", "20", "--json",
                ],
                environment: ["REDIS_PASSWORD": Self.password],
                removing: ["REDIS_PASSWORD_FILE"]
            )
            defer { demo.kill() }
            // Look at every process's argv while the demo and its workers run.
            var workersSeen = Set<Int32>()
            var leaks: [String] = []
            let deadline = ContinuousClock.now.advanced(by: .seconds(120))
            while demo.isRunning, ContinuousClock.now < deadline {
                // redis-server got the password in its argv from this test (and overwrites it with its title).
                for (pid, line) in Self.allCommandLines() where pid != server.pid {
                    if line.contains(Self.password) { leaks.append(line) }
                    if line.hasSuffix(" worker "), Self.parent(of: pid) == demo.pid { workersSeen.insert(pid) }
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            let status = try await demo.waitForExit(timeout: .seconds(120))
            #expect(status == 0, "\(demo.stderr)")
            #expect(leaks.isEmpty, "\(leaks)")
            #expect(workersSeen.count == 2, "the scan saw the demo's workers: \(workersSeen)")
            let report = try OperatorFixture.jsonObject(demo.stdout)
            #expect(report["passed"] as? Bool == true, "\(demo.stdout)")
            #expect(!demo.stdout.contains(Self.password) && !demo.stderr.contains(Self.password))
        }
    }
}
