import Foundation
import RedisRefresher
import RedisTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// One test's session: a unique name, its keys, a connection to set up and inspect state, recognizable tokens.
struct OperatorFixture {
    let url: String
    let name: String
    let keys: SessionKeys
    let redis: RedisConnection
    let admin: SessionAdmin
    let accessToken: String
    let refreshToken: String

    init(url: String = TestRedis.url) throws {
        self.url = url
        name = "cli-\(UUID().uuidString.prefix(8))"
        keys = SessionKeys(session: try SessionName(name))
        redis = try RedisConnection(url: url)
        admin = SessionAdmin(connection: redis, keys: keys)
        accessToken = "access-secret-\(UUID().uuidString)"
        refreshToken = "refresh-secret-\(UUID().uuidString)"
    }

    func arguments(_ command: [String]) -> [String] { command + ["--session", name, "--redis-url", url] }

    func run(_ command: [String], stdin: String? = nil) async throws -> CLI.Result {
        try await CLIProcess.run(arguments(command), stdin: stdin)
    }

    func storeSession(expiresIn: Duration) async throws {
        _ = try await admin.putSession(
            RefreshedTokens(accessToken: accessToken, refreshToken: refreshToken, expiresIn: expiresIn)
        )
    }

    func storeSession(expiresAtMilliseconds: Int64) async throws {
        _ = try await admin.putSession(
            RefreshedTokens(
                accessToken: accessToken,
                refreshToken: refreshToken,
                expiresAtMilliseconds: expiresAtMilliseconds
            )
        )
    }

    /// The Redis server's clock, ms since the epoch.
    func serverTime() async throws -> Int64 {
        let time = try await redis.send("TIME").array ?? []
        return (time.first?.int ?? 0) * 1000 + (time.dropFirst().first?.int ?? 0) / 1000
    }

    func lockHolder() async throws -> String? {
        try await redis.send("GET", .init(keys.lock)).string
    }

    func field(_ name: String) async throws -> String? {
        try await redis.send("HGET", .init(keys.sessionHash), .init(name)).string
    }

    func expectNoTokens(in result: CLI.Result, sourceLocation: SourceLocation = #_sourceLocation) {
        for token in [accessToken, refreshToken] {
            #expect(!result.stdout.contains(token) && !result.stderr.contains(token), sourceLocation: sourceLocation)
        }
    }
}

extension OperatorFixture {
    /// Asserts a failed run that explains itself in `lines` stderr lines (the last one the error), without a crash.
    static func expectOneLineError(
        _ result: CLI.Result,
        lines: Int = 1,
        exitCode: Int32? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(result.status != 0, "exit 0; stdout: \(result.stdout)", sourceLocation: sourceLocation)
        if let exitCode { #expect(result.status == exitCode, sourceLocation: sourceLocation) }
        let stderr = result.stderr.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(stderr.count == lines, "stderr: \(result.stderr)", sourceLocation: sourceLocation)
        #expect(
            stderr.last?.hasPrefix("refresher: error: ") == true,
            "stderr: \(result.stderr)",
            sourceLocation: sourceLocation
        )
        for crash in ["Fatal error", "backtrace", "Stack dump", "Crash", "Usage:"] {
            #expect(!result.stderr.contains(crash), "stderr: \(result.stderr)", sourceLocation: sourceLocation)
        }
        #expect(result.stdout.isEmpty, "stdout: \(result.stdout)", sourceLocation: sourceLocation)
    }

    /// `key  value` lines as a dictionary.
    static func rows(_ output: String) -> [String: String] {
        var rows: [String: String] = [:]
        for line in output.split(separator: "\n") {
            guard let gap = line.firstRange(of: "  ") else { continue }
            rows[String(line[..<gap.lowerBound])] = String(line[gap.upperBound...].drop { $0 == " " })
        }
        return rows
    }

    static func jsonObject(_ text: String) throws -> [String: Any] {
        try #require(
            try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
            "not a JSON object: \(text)"
        )
    }
}
