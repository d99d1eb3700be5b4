import ChildProcesses
import Foundation
import Synchronization

/// Certificates made with the `openssl` command in a temporary directory, once per test process: a CA, a server
/// certificate for 127.0.0.1 and localhost, an expired one, one for another host, one from a CA nobody trusts, and
/// a client certificate. Keys are unencrypted P-256 PEM files.
public final class TestCertificates: Sendable {
    /// The directory holding every file.
    public let directory: URL

    /// The trusted test CA (PEM).
    public var caFile: String { path("ca.pem") }
    /// A directory holding the test CA under its subject hash (`openssl rehash`), for `ca_dir`.
    public var caDirectory: String { path("ca-dir") }
    /// Server certificate and key for `IP:127.0.0.1` and `DNS:localhost`, issued by ``caFile``.
    public var serverCertificate: String { path("server.pem") }
    public var serverKey: String { path("server.key") }
    /// The same names, issued by ``caFile``, valid only during January 1, 2020.
    public var expiredCertificate: String { path("expired.pem") }
    public var expiredKey: String { path("expired.key") }
    /// Issued by ``caFile`` for `DNS:other.example` only.
    public var otherHostCertificate: String { path("other-host.pem") }
    public var otherHostKey: String { path("other-host.key") }
    /// Issued by a CA no client trusts, for the right names.
    public var untrustedCertificate: String { path("untrusted.pem") }
    public var untrustedKey: String { path("untrusted.key") }
    /// A client certificate and key issued by ``caFile``.
    public var clientCertificate: String { path("client.pem") }
    public var clientKey: String { path("client.key") }
    /// ``clientKey`` encrypted with a passphrase (`secret-passphrase`), which the client does not support.
    public var encryptedClientKey: String { path("client-encrypted.key") }

    private static let cache = Mutex<Task<TestCertificates, any Error>?>(nil)

    /// The process's certificates, made on first use (concurrent first callers wait for the same making).
    public static func shared() async throws -> TestCertificates {
        let making = cache.withLock { cached in
            if let cached { return cached }
            let task = Task { try await TestCertificates() }
            cached = task
            return task
        }
        return try await making.value
    }

    private init() async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "redis-tls-\(UUID().uuidString.prefix(8))"
        )
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // The shared instance lives as long as the process: its files go when the process exits.
        Self.madeDirectories.withLock { $0.append(directory.path) }
        Self.registerRemovalAtExit
        try await makeCA("ca", subject: "redis-refresher test CA")
        try await makeCA("untrusted-ca", subject: "an untrusted CA")
        let names = "IP:127.0.0.1,DNS:localhost"
        try await issue("server", subject: "localhost", names: names, by: "ca")
        try await issue(
            "expired",
            subject: "localhost",
            names: names,
            by: "ca",
            from: "20200101000000Z",
            to: "20200102000000Z"
        )
        try await issue("other-host", subject: "other.example", names: "DNS:other.example", by: "ca")
        try await issue("untrusted", subject: "localhost", names: names, by: "untrusted-ca")
        try await issue("client", subject: "redis-refresher test client", names: nil, by: "ca")
        try await openssl([
            "pkey", "-in", clientKey, "-aes256", "-passout", "pass:secret-passphrase", "-out", encryptedClientKey,
        ])
        try FileManager.default.createDirectory(atPath: caDirectory, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: caFile, toPath: "\(caDirectory)/test-ca.pem")
        try await openssl(["rehash", caDirectory])
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    /// The directories made in this process, removed at its exit.
    private static let madeDirectories = Mutex<[String]>([])

    private static let registerRemovalAtExit: Void = {
        atexit {
            for path in TestCertificates.madeDirectories.withLock({ $0 }) {
                try? FileManager.default.removeItem(atPath: path)
            }
        }
    }()

    private func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    private func makeCA(_ name: String, subject: String) async throws {
        try await openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "3650",
            "-keyout", path("\(name).key"), "-out", path("\(name).pem"), "-subj", "/CN=\(subject)",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ])
        let database = path("\(name)-db")
        try FileManager.default.createDirectory(atPath: database, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: "\(database)/index.txt", contents: Data())
        try Data("01\n".utf8).write(to: URL(fileURLWithPath: "\(database)/serial"))
        let configuration = """
            [ca]
            default_ca = test
            [test]
            database = \(database)/index.txt
            new_certs_dir = \(database)
            serial = \(database)/serial
            default_md = sha256
            policy = any
            copy_extensions = copy
            unique_subject = no
            [any]
            commonName = supplied
            """
        try Data(configuration.utf8).write(to: URL(fileURLWithPath: path("\(name).cnf")))
    }

    /// Issues `name.pem` / `name.key` with `openssl ca` (which, unlike `openssl x509`, can backdate).
    private func issue(
        _ name: String,
        subject: String,
        names: String?,
        by ca: String,
        from start: String? = nil,
        to end: String? = nil
    ) async throws {
        var request = [
            "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
            path("\(name).key"), "-out", path("\(name).csr"), "-subj", "/CN=\(subject)",
        ]
        if let names { request += ["-addext", "subjectAltName=\(names)"] }
        try await openssl(request)
        var signing = [
            "ca", "-batch", "-notext", "-config", path("\(ca).cnf"), "-cert", path("\(ca).pem"), "-keyfile",
            path("\(ca).key"), "-in", path("\(name).csr"), "-out", path("\(name).pem"),
        ]
        if let start, let end {
            signing += ["-startdate", start, "-enddate", end]
        } else {
            signing += ["-days", "3650"]
        }
        try await openssl(signing)
    }

    private func openssl(_ arguments: [String]) async throws {
        let completed = try await ChildProcess.run(
            .init(
                executable: "openssl",
                arguments: arguments,
                workingDirectory: directory.path,
                standardOutput: .discard
            ),
            timeout: .seconds(60)
        )
        guard completed.termination == .exited(0) else {
            throw TestSupportError("openssl \(arguments.first ?? "") failed: \(completed.errorText)")
        }
    }
}
