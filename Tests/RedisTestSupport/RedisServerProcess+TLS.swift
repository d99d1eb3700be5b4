extension RedisServerProcess {
    /// Server arguments that add a TLS port beside the plaintext one (which stays for readiness checks and admin
    /// connections). The server presents `certificate` (default: the test server certificate) and trusts the test
    /// CA for client certificates; with `requireClientCertificates` it refuses clients without one.
    public static func tlsArguments(
        port: Int,
        certificates: TestCertificates,
        certificate: String? = nil,
        key: String? = nil,
        requireClientCertificates: Bool = false
    ) -> [String] {
        [
            "--tls-port", String(port),
            "--tls-cert-file", certificate ?? certificates.serverCertificate,
            "--tls-key-file", key ?? certificates.serverKey,
            "--tls-ca-cert-file", certificates.caFile,
            "--tls-auth-clients", requireClientCertificates ? "yes" : "no",
        ]
    }

    /// Server arguments for a TLS port (a free one) beside the plaintext one, with the shared test certificates.
    public static func tlsArguments() async throws -> [String] {
        tlsArguments(port: try freeLoopbackPort(), certificates: try await .shared())
    }

    /// The `rediss://` URL of the TLS port that trusts the server's CA (`ca_file`), when the server has a TLS port.
    public var tlsURL: String? {
        guard let tlsPort, let tlsCAFile else { return nil }
        return "rediss://127.0.0.1:\(tlsPort)?ca_file=\(tlsCAFile)"
    }

    /// The CA file the server was started with (`--tls-ca-cert-file`), which issued its certificate.
    public var tlsCAFile: String? {
        guard let index = arguments.firstIndex(of: "--tls-ca-cert-file"), index + 1 < arguments.count else {
            return nil
        }
        return arguments[index + 1]
    }

    /// The TLS port, when the server was started with one.
    public var tlsPort: Int? {
        guard let index = arguments.firstIndex(of: "--tls-port"), index + 1 < arguments.count else { return nil }
        return Int(arguments[index + 1])
    }
}
