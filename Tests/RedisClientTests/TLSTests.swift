import Foundation
import RedisClient
import RedisTestSupport
import Testing

@Suite("TLS (rediss://)")
struct TLSTests {
    let certificates: TestCertificates

    init() async throws { certificates = try await .shared() }

    /// Starts a TLS server presenting `certificate`, runs `body` with its TLS port.
    func withTLSServer<T>(
        certificate: String? = nil,
        key: String? = nil,
        requireClientCertificates: Bool = false,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (RedisServerProcess, Int) async throws -> T
    ) async throws -> T {
        let port = try freeLoopbackPort()
        let arguments = RedisServerProcess.tlsArguments(
            port: port,
            certificates: certificates,
            certificate: certificate,
            key: key,
            requireClientCertificates: requireClientCertificates
        )
        return try await withRedisServer(arguments) { server in try await body(server, port) }
    }

    /// The error of a first command over `url`, which must come well within the connect timeout: no hang.
    func connectError(_ url: String) async throws -> RedisError? {
        var configuration = try RedisConfiguration(url: url)
        configuration.connectTimeout = .seconds(20)
        let redis = try RedisConnection(configuration: configuration)
        defer { redis.close() }
        return try await withTimeout(.seconds(10), "the connection fails") {
            await redisError { try await redis.send("PING") }
        }
    }

    @Test func urlCarriesEveryTLSSetting() throws {
        let configuration = try RedisConfiguration(
            url: "rediss://alice:hunter2@cache.internal:6380/2?ca_file=%2Fetc%2Fca%20file%26more.pem&ca_dir=/etc/cas"
                + "&cert_file=/c.pem&key_file=/k.pem&server_name=redis.internal&insecure_skip_verify=true"
        )
        #expect(configuration.endpoint == .tcp(host: "cache.internal", port: 6380))
        #expect(configuration.database == 2)
        #expect(configuration.password == "hunter2")
        let tls = try #require(configuration.tls)
        #expect(tls.caFile == "/etc/ca file&more.pem")
        #expect(tls.caDirectory == "/etc/cas")
        #expect(tls.certificateFile == "/c.pem")
        #expect(tls.keyFile == "/k.pem")
        #expect(tls.serverName == "redis.internal")
        #expect(tls.insecureSkipVerify)
        for text in [
            configuration.description, String(reflecting: configuration), "\(configuration)",
            String(describing: Mirror(reflecting: configuration).children.map(\.value)),
        ] {
            #expect(!text.contains("hunter2"), "\(text)")
            #expect(text.contains("insecure_skip_verify=true"), "\(text)")
        }
        #expect(
            configuration.description.hasPrefix(
                "rediss://alice:***@cache.internal:6380/2?ca_file=/etc/ca%20file%26more.pem&ca_dir="
            )
        )
        // The description parses back to the same settings.
        #expect(try RedisConfiguration(url: configuration.description).tls == configuration.tls)
    }

    @Test func impossibleSettingsAreRefusedBeforeAnyIO() throws {
        var keyOnly = try RedisConfiguration(url: "rediss://localhost")
        keyOnly.tls?.keyFile = "/k.pem"
        var unix = try RedisConfiguration(url: "unix:///tmp/r.sock")
        unix.tls = RedisConfiguration.TLS()
        var empty = try RedisConfiguration(url: "rediss://localhost")
        empty.tls?.caFile = ""
        for configuration in [keyOnly, unix, empty] {
            let error = #expect(throws: RedisError.self) { try RedisConnection(configuration: configuration) }
            #expect(error?.code == .invalidConfiguration)
        }
    }

    @Test func unreadableCAFileFailsClearly() async throws {
        let error = try await connectError("rediss://127.0.0.1:1?ca_file=/nonexistent/ca.pem")
        #expect(error?.code == .tlsFailed)
        #expect(error?.message.contains("/nonexistent/ca.pem") == true, "\(String(describing: error))")
    }

    @Test func caDirectoryAndServerNameOverride() async throws {
        try await withTLSServer { _, port in
            // Connected by IP, verified as "localhost" (a name in the certificate), trusting a hashed CA directory.
            let redis = try RedisConnection(
                url: "rediss://127.0.0.1:\(port)?ca_dir=\(certificates.caDirectory)&server_name=localhost"
            )
            #expect(try await redis.send("PING") == .status("PONG"))
            let local = try RedisConnection(url: "rediss://localhost:\(port)?ca_file=\(certificates.caFile)")
            #expect(try await local.send("ECHO", "over TLS") == .bulk(Array("over TLS".utf8)))
        }
    }

    @Test func mutualTLSWithAClientCertificate() async throws {
        try await withTLSServer(requireClientCertificates: true) { _, port in
            let redis = try RedisConnection(
                url: "rediss://127.0.0.1:\(port)?ca_file=\(certificates.caFile)"
                    + "&cert_file=\(certificates.clientCertificate)&key_file=\(certificates.clientKey)"
            )
            #expect(try await redis.send("SET", "k", "v") == .status("OK"))
            #expect(try await redis.send("GET", "k") == .bulk(Array("v".utf8)))
        }
    }

    @Test func encryptedClientKeyFailsAtOnceInsteadOfPromptingForAPassphrase() async throws {
        try await withTLSServer(requireClientCertificates: true) { _, port in
            let error = try await connectError(
                "rediss://127.0.0.1:\(port)?ca_file=\(certificates.caFile)"
                    + "&cert_file=\(certificates.clientCertificate)&key_file=\(certificates.encryptedClientKey)"
            )
            #expect(error?.code == .tlsFailed, "\(String(describing: error))")
            #expect(error?.message.contains("passphrase") == true, "\(String(describing: error))")
        }
    }

    @Test func withoutVerificationAMissingClientCertificateIsStillNamed() async throws {
        try await withTLSServer(requireClientCertificates: true) { _, port in
            let error = try await connectError("rediss://127.0.0.1:\(port)?insecure_skip_verify=true")
            #expect(error?.code == .tlsFailed, "\(String(describing: error))")
            #expect(error?.message.contains("requires a client certificate") == true, "\(String(describing: error))")
        }
    }

    @Test func mutualTLSWithoutAClientCertificateFailsAtConnect() async throws {
        try await withTLSServer(requireClientCertificates: true) { _, port in
            let error = try await connectError("rediss://127.0.0.1:\(port)?ca_file=\(certificates.caFile)")
            #expect(error?.code == .tlsFailed, "\(String(describing: error))")
            #expect(error?.message.contains("requires a client certificate") == true, "\(String(describing: error))")
        }
    }

    @Test func untrustedCertificateFails() async throws {
        try await withTLSServer(certificate: certificates.untrustedCertificate, key: certificates.untrustedKey) {
            _,
            port in
            let error = try await connectError("rediss://127.0.0.1:\(port)?ca_file=\(certificates.caFile)")
            #expect(error?.code == .tlsFailed)
            #expect(
                error?.message.contains("certificate verify failed: unable to get local issuer certificate") == true,
                "\(String(describing: error))"
            )
            // Verification off: the same server is accepted (encrypted, not authenticated).
            let insecure = try RedisConnection(url: "rediss://127.0.0.1:\(port)?insecure_skip_verify=true")
            #expect(try await insecure.send("PING") == .status("PONG"))
        }
    }

    @Test func certificateForAnotherHostFails() async throws {
        try await withTLSServer(certificate: certificates.otherHostCertificate, key: certificates.otherHostKey) {
            _,
            port in
            let byName = try await connectError("rediss://localhost:\(port)?ca_file=\(certificates.caFile)")
            #expect(byName?.code == .tlsFailed)
            #expect(byName?.message.contains("hostname mismatch") == true, "\(String(describing: byName))")
            let byAddress = try await connectError("rediss://127.0.0.1:\(port)?ca_file=\(certificates.caFile)")
            #expect(byAddress?.code == .tlsFailed)
            #expect(byAddress?.message.contains("IP address mismatch") == true, "\(String(describing: byAddress))")
            // The name the certificate does carry is accepted.
            let named = try RedisConnection(
                url: "rediss://127.0.0.1:\(port)?ca_file=\(certificates.caFile)&server_name=other.example"
            )
            #expect(try await named.send("PING") == .status("PONG"))
        }
    }

    @Test func expiredCertificateFails() async throws {
        try await withTLSServer(certificate: certificates.expiredCertificate, key: certificates.expiredKey) {
            _,
            port in
            let error = try await connectError("rediss://127.0.0.1:\(port)?ca_file=\(certificates.caFile)")
            #expect(error?.code == .tlsFailed)
            #expect(error?.message.contains("certificate has expired") == true, "\(String(describing: error))")
        }
    }

    @Test func plaintextClientAgainstATLSPortFails() async throws {
        try await withTLSServer { _, port in
            let error = try await connectError("redis://127.0.0.1:\(port)")
            #expect(error?.isConnectionError == true)
            #expect(
                error?.message.contains("is this a TLS port? use rediss://") == true,
                "\(String(describing: error))"
            )
        }
    }

    /// A plaintext Redis takes the TLS hello for an inline command and answers only if the hello's random bytes
    /// happen to hold a newline (then OpenSSL reports a wrong version number); otherwise it stays silent until the
    /// connect timeout. Either way the error names the likely cause.
    @Test func tlsClientAgainstAPlaintextPortFails() async throws {
        try await withRedisServer { server in
            var configuration = try RedisConfiguration(
                url: "rediss://127.0.0.1:\(server.port)?ca_file=\(certificates.caFile)"
            )
            configuration.connectTimeout = .milliseconds(500)
            for _ in 0..<3 {
                let redis = try RedisConnection(configuration: configuration)
                let error = try await withTimeout(.seconds(10), "the connection fails") {
                    await redisError { try await redis.send("PING") }
                }
                #expect(error?.isConnectionError == true)
                #expect(error?.message.contains("not speak TLS") == true, "\(String(describing: error))")
                redis.close()
            }
        }
    }

    @Test func passwordAndDatabaseOverTLS() async throws {
        try await withTLSServer { server, port in
            let admin = try RedisConnection(url: server.url)
            #expect(try await admin.send("CONFIG", "SET", "requirepass", "s3cret") == .status("OK"))
            let redis = try RedisConnection(
                url: "rediss://:s3cret@127.0.0.1:\(port)/4?ca_file=\(certificates.caFile)"
            )
            #expect(try await redis.send("CLIENT", "INFO").string?.contains(" db=4 ") == true)
            let wrong = try await connectError("rediss://:wrong@127.0.0.1:\(port)?ca_file=\(certificates.caFile)")
            #expect(wrong?.code == .authenticationFailed)
        }
    }

    @Test func monitorOverTLS() async throws {
        try await withTLSServer { _, port in
            let configuration = try RedisConfiguration(url: "rediss://127.0.0.1:\(port)?ca_file=\(certificates.caFile)")
            let monitor = try RedisMonitor(configuration: configuration)
            defer { monitor.close() }
            try await monitor.start()
            let redis = try RedisConnection(configuration: configuration)
            #expect(try await redis.send("SET", "tls-monitored", "1") == .status("OK"))
            let line = try await withTimeout(.seconds(10), "MONITOR shows the SET") {
                for await line in monitor.lines where line.contains("tls-monitored") { return line }
                return ""
            }
            #expect(line.lowercased().contains("\"set\" \"tls-monitored\""), "\(line)")
        }
    }
}
