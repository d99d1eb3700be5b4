extension RedisServerProcess {
    /// Server arguments that add a TLS port beside the plaintext one (which stays for readiness checks and admin
    /// connections). The server presents `certificate` (default: the test server certificate) and trusts the test
    /// CA for client certificates; with `requireClientCertificates` it refuses clients without one.
    public static func tlsArguments(
        port: Int, certificates: TestCertificates, certificate: String? = nil, key: String? = nil,
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

    /// The TLS port, when the server was started with one.
    public var tlsPort: Int? {
        guard let index = arguments.firstIndex(of: "--tls-port"), index + 1 < arguments.count else { return nil }
        return Int(arguments[index + 1])
    }
}
