import ChildProcesses
import Foundation

/// A throwaway CA and a server certificate for `IP:127.0.0.1` and `DNS:localhost` issued by it, made with the
/// `openssl` command in `directory` (P-256 keys, valid for a day), for an embedded TLS `redis-server`.
struct GeneratedCertificates: Sendable {
    let directory: URL
    /// The CA certificate a client trusts (`ca_file`).
    var caFile: String { path("ca.pem") }
    var serverCertificate: String { path("server.pem") }
    var serverKey: String { path("server.key") }

    /// Makes the files in `directory`, which must exist and be readable by this user only (the keys are not
    /// encrypted).
    init(in directory: URL) async throws {
        self.directory = directory
        let key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"]
        try await Self.openssl(
            ["req", "-x509"] + key + [
                "-keyout", path("ca.key"), "-out", caFile, "-subj", "/CN=refresher embedded CA",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
            ]
        )
        // `req -x509 -CA` issues the certificate with the CA key in one step (OpenSSL 3).
        try await Self.openssl(
            ["req", "-x509"] + key + [
                "-CA", caFile, "-CAkey", path("ca.key"), "-keyout", serverKey, "-out", serverCertificate,
                "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                "-addext", "basicConstraints=critical,CA:FALSE",
            ]
        )
    }

    private func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    private static func openssl(_ arguments: [String]) async throws {
        let completed: ChildProcess.Completed
        do {
            completed = try await ChildProcess.run(
                .init(executable: "openssl", arguments: arguments, standardOutput: .discard),
                timeout: .seconds(30)
            )
        } catch {
            throw CLIError("cannot run openssl to make a TLS certificate (apt-get install openssl): \(error)")
        }
        guard completed.termination == .exited(0) else {
            let reason = completed.standardError.last ?? "\(completed.termination)"
            throw CLIError("openssl \(arguments[0]) failed making a TLS certificate: \(reason)")
        }
    }
}
