import Foundation
import RedisRefresher
import RedisTestSupport
import Testing

/// The commands over TLS: a `rediss://` URL whose settings come from the `REDIS_TLS_*` variables, against a
/// `redis-server` with a TLS port and certificates made by `openssl` at test time.
@Suite("refresher over TLS", .serialized)
struct TLSCommandTests {
    /// A TLS server's `rediss://` URL without query items, and the variables that hold its CA.
    static func bareURL(_ server: RedisServerProcess) throws -> String {
        "rediss://127.0.0.1:\(try #require(server.tlsPort))"
    }

    static func variables() async throws -> [String: String] {
        ["REDIS_TLS_CA_FILE": try await TestCertificates.shared().caFile]
    }

    @Test("status and session put over rediss:// with REDIS_TLS_CA_FILE; without the CA, a one-line error")
    func statusAndSessionPut() async throws {
        try await withRedisServer(try await RedisServerProcess.tlsArguments()) { server in
            let fixture = try OperatorFixture(url: try #require(server.tlsURL))
            let url = try Self.bareURL(server)
            let input = #"{"access_token": "\#(fixture.accessToken)", "refresh_token": "\#(fixture.refreshToken)"}"#
            let put = try await CLI.run(
                ["session", "put", "--session", fixture.name, "--redis-url", url],
                stdin: input,
                environment: try await Self.variables()
            )
            #expect(put.status == 0, "\(put.stderr)")
            #expect(try await fixture.field("access_token") == fixture.accessToken)

            let status = try await CLI.run(
                ["status", "--json", "--session", fixture.name, "--redis-url", url],
                environment: try await Self.variables()
            )
            #expect(status.status == 0, "\(status.stderr)")
            let object = try OperatorFixture.jsonObject(status.stdout)
            #expect(object["generation"] as? Int == 1)
            fixture.expectNoTokens(in: status)

            let unverified = try await CLI.run(
                ["status", "--session", fixture.name, "--redis-url", url],
                removing: RedisTLSVariable.names
            )
            OperatorFixture.expectOneLineError(unverified)
            #expect(unverified.stderr.contains("certificate"), "\(unverified.stderr)")
        }
    }

    @Test("A URL's own query item wins over its REDIS_TLS_* variable")
    func urlWinsOverVariable() async throws {
        try await withRedisServer(try await RedisServerProcess.tlsArguments()) { server in
            let fixture = try OperatorFixture(url: try #require(server.tlsURL))
            try await fixture.storeSession(expiresIn: .seconds(3600))
            // The variable names a CA file that does not exist; the URL's ca_file is used instead.
            let result = try await CLI.run(
                ["status", "--session", fixture.name, "--redis-url", try #require(server.tlsURL)],
                environment: ["REDIS_TLS_CA_FILE": "/nonexistent/ca.pem"]
            )
            #expect(result.status == 0, "\(result.stderr)")
        }
    }

    @Test("REDIS_TLS_* with a redis:// URL is a one-line error, not a silent plaintext connection")
    func variablesNeedRediss() async throws {
        let fixture = try OperatorFixture()
        let result = try await CLI.run(
            ["status", "--session", fixture.name, "--redis-url", TestRedis.url],
            environment: try await Self.variables()
        )
        OperatorFixture.expectOneLineError(result)
        #expect(result.stderr.contains("REDIS_TLS_CA_FILE is set, but the Redis URL"), "\(result.stderr)")
    }

    @Test("demo --redis-url rediss://…: the worker processes connect over TLS with the settings of REDIS_TLS_*")
    func demoOverGivenTLSServer() async throws {
        try await withRedisServer(try await RedisServerProcess.tlsArguments()) { server in
            let result = try await CLI.run(
                [
                    "demo", "--redis-url", try Self.bareURL(server), "--processes", "2", "--tasks", "2", "--duration",
                    "3", "--token-ttl", "1", "--latency-ms", "20", "--json",
                ],
                environment: try await Self.variables(),
                timeout: .seconds(120)
            )
            #expect(result.status == 0, "stderr: \(result.stderr)")
            let report = try OperatorFixture.jsonObject(result.stdout)
            #expect(report["passed"] as? Bool == true)
            #expect((report["requestsServed"] as? Int ?? 0) > 0)
            #expect((report["refreshes"] as? Int ?? 0) >= 1)
            // The server's TLS port speaks nothing else: a worker that connected in plaintext would have failed.
        }
    }

    @Test("demo --redis-url rediss://… without the CA: a one-line error that says why, no fleet")
    func demoWithoutTheCA() async throws {
        try await withRedisServer(try await RedisServerProcess.tlsArguments()) { server in
            let result = try await CLI.run(
                ["demo", "--redis-url", try Self.bareURL(server), "--processes", "1", "--tasks", "1"],
                removing: RedisTLSVariable.names,
                timeout: .seconds(60)
            )
            OperatorFixture.expectOneLineError(result)
            #expect(result.stderr.contains("no Redis answers at rediss://127.0.0.1:"), "\(result.stderr)")
            #expect(result.stderr.contains("certificate"), "\(result.stderr)")
        }
    }

    @Test("demo --tls: an embedded redis-server with a certificate made at run time, the fleet on rediss://")
    func demoTLS() async throws {
        let result = try await CLI.run(
            [
                "demo", "--tls", "--processes", "2", "--tasks", "2", "--duration", "3", "--token-ttl", "1",
                "--latency-ms", "20",
            ],
            removing: ["REDIS_URL"] + RedisTLSVariable.names,
            timeout: .seconds(120)
        )
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let header = result.stdout.split(separator: "\n").first { $0.contains("(embedded") } ?? ""
        #expect(header.contains("rediss://127.0.0.1:") && header.contains("ca_file="), "\(result.stdout)")
        #expect(result.stdout.contains("result: PASS"), "\(result.stdout)")
    }
}

/// The variable names, as the CLI reads them (a test must not inherit them from the environment it runs in).
enum RedisTLSVariable {
    static let names = [
        "REDIS_TLS_CA_FILE", "REDIS_TLS_CA_DIR", "REDIS_TLS_CERT_FILE", "REDIS_TLS_KEY_FILE", "REDIS_TLS_SERVER_NAME",
        "REDIS_TLS_INSECURE_SKIP_VERIFY",
    ]
}
