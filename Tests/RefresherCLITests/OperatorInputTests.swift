import Foundation
import RedisRefresher
import RedisTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// What the operator subcommands (`status`, `watch`, `release`, `session put`) say about bad arguments, an
/// unreachable Redis and a missing session name: one line, no crash.
@Suite("refresher status, watch, release, session put: bad input")
struct OperatorInputTests {
    @Test(
        "Bad arguments, URLs and session names: one line on stderr, non-zero exit, no trace",
        arguments: [
            ["status", "--bogus"],
            ["watch", "--count", "0"],
            ["status", "--redis-url", "http://127.0.0.1:6379"],
            ["status", "--redis-url", "redis://127.0.0.1:99999"],
            ["status", "--session", "a{b}"],
            ["status", "--session", "a*"],
            ["status", "--session", "a b"],
            ["status", "--session", ""],
            ["watch", "--session", "a{b}"],
            ["release", "--session", "x}", "--force", "--yes"],
            ["session", "put", "--session", "a{b}"],
            ["status", "--prefix", "p{x}"],
            ["release", "--owner", "o", "--force"],
        ]
    )
    func badInput(_ arguments: [String]) async throws {
        let session = arguments.contains("--session") ? [] : ["--session", "cli-bad"]
        let url = arguments.contains("--redis-url") ? [] : ["--redis-url", TestRedis.url]
        let result = try await CLIProcess.run(
            arguments + session + url,
            stdin: #"{"access_token":"a","refresh_token":"r"}"#
        )
        OperatorFixture.expectOneLineError(result)
        if arguments.contains("a{b}") {
            // Refused before any key was touched.
            let keys = try await RedisConnection(url: TestRedis.url).send("KEYS", "refresher:{a{b}}*")
            #expect(keys.array?.isEmpty == true)
        }
    }

    @Test(
        "Unreachable Redis or a wrong password: one line naming the server, exit 1",
        arguments: [
            ["status"], ["watch"], ["release", "--force", "--yes"], ["release", "--owner", "o"], ["session", "put"],
        ],
        ["closed port", "wrong password"]
    )
    func unreachableRedis(_ command: [String], _ problem: String) async throws {
        // The test server has no password: AUTH with one is refused like a wrong one.
        let url =
            problem == "closed port"
            ? "redis://127.0.0.1:1"
            : TestRedis.url.replacingOccurrences(of: "redis://", with: "redis://:wrong-password-123@")
        let result = try await CLIProcess.run(
            command + ["--session", "cli-unreachable", "--redis-url", url],
            stdin: #"{"access_token":"a","refresh_token":"r"}"#,
            timeout: .seconds(30)
        )
        OperatorFixture.expectOneLineError(result, exitCode: 1)
        let expected = problem == "closed port" ? "Redis unavailable" : "Redis refused the credentials"
        #expect(result.stderr.contains(expected), "\(result.stderr)")
        #expect(result.stderr.contains("127.0.0.1"), "names the server: \(result.stderr)")
        #expect(!result.stderr.contains("wrong-password-123"))
    }

    @Test("A missing session name is one line", .enabled(if: ProcessInfo.processInfo.environment["SESSION"] == nil))
    func missingSession() async throws {
        for command in [["status"], ["watch"], ["release", "--force", "--yes"]] {
            let result = try await CLIProcess.run(command + ["--redis-url", TestRedis.url], removing: ["SESSION"])
            OperatorFixture.expectOneLineError(result, exitCode: 1)
            #expect(result.stderr.contains("--session"))
        }
    }
}
