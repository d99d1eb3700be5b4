import Foundation
import RedisRefresher
import RedisTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `refresher session put`, run as the built executable against the test Redis. Each test uses a session of its
/// own.
@Suite("refresher session put")
struct SessionPutCommandTests {
    @Test("session put from stdin stores the next generation; prints fingerprints, never tokens")
    func sessionPutStdin() async throws {
        let fixture = try OperatorFixture()
        let input =
            #"{"access_token": "\#(fixture.accessToken)", "refresh_token": "\#(fixture.refreshToken)", "#
            + #""expires_in": 3600, "token_type": "Bearer"}"#
        let before = UnixTime.nowMilliseconds
        let result = try await fixture.run(["session", "put"], stdin: input)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(
            result.stdout == "stored generation 1 for session \(fixture.name) (access "
                + "\(TokenFingerprint.of(fixture.accessToken)), refresh \(TokenFingerprint.of(fixture.refreshToken)))\n"
        )
        fixture.expectNoTokens(in: result)
        #expect(try await fixture.field("access_token") == fixture.accessToken)
        #expect(try await fixture.field("refresh_token") == fixture.refreshToken)
        #expect(try await fixture.field("generation") == "1")
        let expiresAt = try #require(Int64(try await fixture.field("expires_at") ?? ""))
        #expect(expiresAt >= before + 3_600_000 && expiresAt <= UnixTime.nowMilliseconds + 3_600_000)

        // A second put is the next generation and clears a rejection.
        try await fixture.redis.send(
            "HSET",
            .init(fixture.keys.sessionHash),
            "rejected_generation",
            "1",
            "rejected_reason",
            "invalid_grant"
        )
        let again = try await fixture.run(["session", "put", "--json"], stdin: input)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try OperatorFixture.jsonObject(again.stdout)["generation"] as? Int == 2)
        #expect(try await fixture.field("generation") == "2")
        #expect(try await fixture.field("rejected_reason") == nil)
    }

    @Test("session put --file with expires_at")
    func sessionPutFile() async throws {
        let fixture = try OperatorFixture()
        try await fixture.storeSession(expiresIn: .seconds(10))
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("session-\(fixture.name).json")
        defer { try? FileManager.default.removeItem(at: file) }
        let expiresAt = UnixTime.nowMilliseconds + 900_000
        let json =
            #"{"access_token": "file-access-\#(fixture.name)", "refresh_token": "file-refresh-\#(fixture.name)", "#
            + #""expires_at": \#(expiresAt)}"#
        try Data(json.utf8).write(to: file)
        let result = try await fixture.run(["session", "put", "--file", file.path, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try OperatorFixture.jsonObject(result.stdout)
        #expect(object["generation"] as? Int == 2)
        #expect(object["expires_at_ms"] as? Int == Int(expiresAt))
        #expect(object["access_token_fingerprint"] as? String == TokenFingerprint.of("file-access-\(fixture.name)"))
        #expect(!result.stdout.contains("file-access") && !result.stdout.contains("file-refresh"))
        #expect(try await fixture.field("generation") == "2")
        #expect(try await fixture.field("access_token") == "file-access-\(fixture.name)")
        #expect(try await fixture.field("refresh_token") == "file-refresh-\(fixture.name)")
        #expect(try await fixture.field("expires_at") == String(expiresAt))
    }

    @Test(
        "session put refuses bad input with one line, stores nothing and never echoes a token",
        arguments: [
            (#"{"access_token": "secret-a1", "refresh_token": "#, "not valid JSON"),
            (#"{"access_token": "", "refresh_token": "secret-r1", "expires_in": 60}"#, "access_token"),
            (#"{"access_token": "secret-a1", "expires_in": 60}"#, "refresh_token"),
            (#"{"access_token": 5, "refresh_token": "secret-r1"}"#, "access_token must be a string"),
            (#"["secret-a1", "secret-r1"]"#, "must be an object"),
            (#"{"access_token": "secret-a1", "refresh_token": "secret-r1", "expires_at": 1700000000}"#, "milliseconds"),
            (#"{"access_token": "secret-a1", "refresh_token": "secret-r1", "expires_in": -5}"#, "expires_in"),
            (
                #"{"access_token": "secret-a1", "refresh_token": "secret-r1", "expires_in": 5, "expires_at": 1}"#,
                "either"
            ),
            ("", "no input"),
        ]
    )
    func sessionPutBadInput(_ input: String, _ expected: String) async throws {
        let fixture = try OperatorFixture()
        let result = try await fixture.run(["session", "put"], stdin: input)
        OperatorFixture.expectOneLineError(result)
        #expect(result.stderr.contains(expected), "\(result.stderr)")
        #expect(!result.stderr.contains("secret-"), "\(result.stderr)")
        #expect(try await fixture.field("generation") == nil)
    }

    @Test("session put --file with a missing file is one line")
    func sessionPutMissingFile() async throws {
        let fixture = try OperatorFixture()
        let result = try await fixture.run(["session", "put", "--file", "/nonexistent/\(fixture.name).json"])
        OperatorFixture.expectOneLineError(result)
        #expect(result.stderr.contains("cannot read"))
    }
}
