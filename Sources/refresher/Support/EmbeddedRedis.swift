import ChildProcesses
import Foundation
import RedisClient
import RedisRefresher

#if canImport(Glibc)
import Glibc
#endif

/// A throwaway `redis-server` on a free loopback port, without persistence, for the demo and benchmarks when no
/// Redis answers; with TLS, also on a second port with a certificate made at start (see ``GeneratedCertificates``).
/// Stopped (SIGTERM, then SIGKILL) by ``stop()``, which removes its directory, certificates included.
final class EmbeddedRedis: Sendable {
    let port: Int
    let process: ChildProcess
    let directory: URL
    /// The plaintext URL.
    var url: String { "redis://127.0.0.1:\(port)" }
    /// The TLS port, when started with TLS.
    let tlsPort: Int?
    /// The `rediss://` URL that trusts the generated CA, when started with TLS.
    let tlsURL: String?

    /// Whether the server runs at a raised priority (see `init(priority:)`).
    let raisedPriority: Bool

    /// - Parameter raisePriority: run the server at nice -10 when permitted (root). Benchmarks use it to stand in for
    ///   a Redis on a host of its own: on a 2-core machine shared with dozens of worker processes, the server would
    ///   otherwise wait for a CPU behind them, and every round trip would measure the scheduler.
    /// - Parameter tls: also serve TLS on a second port, with a CA and server certificate made by `openssl`.
    init(raisePriority: Bool = false, tls: Bool = false) async throws {
        guard
            let binary = ["/usr/bin/redis-server", "/usr/local/bin/redis-server", "/usr/sbin/redis-server"]
                .first(where: { FileManager.default.isExecutableFile(atPath: $0) })
        else {
            throw CLIError("no Redis answers and redis-server is not installed (apt-get install redis-server)")
        }
        port = try Self.freePort()
        directory = try Self.privateDirectory()
        var arguments = [
            "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir",
            directory.path, "--loglevel", "warning",
        ]
        if tls {
            let certificates: GeneratedCertificates
            do {
                certificates = try await GeneratedCertificates(in: directory)
            } catch {
                try? FileManager.default.removeItem(at: directory)
                throw error
            }
            let tlsPort = try Self.freePort()
            arguments += [
                "--tls-port", String(tlsPort), "--tls-cert-file", certificates.serverCertificate, "--tls-key-file",
                certificates.serverKey, "--tls-ca-cert-file", certificates.caFile, "--tls-auth-clients", "no",
            ]
            self.tlsPort = tlsPort
            tlsURL =
                "rediss://127.0.0.1:\(tlsPort)?ca_file=\(URLText.percentEncoded(certificates.caFile, keeping: "/"))"
        } else {
            tlsPort = nil
            tlsURL = nil
        }
        process = try await ChildProcess.start(
            .init(executable: binary, arguments: arguments, standardOutput: .discard, standardError: .discard)
        )
        raisedPriority =
            raisePriority
            && setpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(process.processIdentifier), -10) == 0
        let connection = try RedisConnection(url: url)
        defer { connection.close() }
        let deadline = ContinuousClock.now.advanced(by: .seconds(10))
        while (try? await connection.send("PING")) == nil {
            guard ContinuousClock.now < deadline, process.isRunning else {
                await stop()
                throw CLIError("the embedded redis-server did not start on port \(port)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        if let tlsURL {
            // The server is up: a failure here is TLS's, and its message says what went wrong.
            do {
                let secure = try RedisConnection(url: tlsURL)
                defer { secure.close() }
                _ = try await secure.send("PING")
            } catch {
                await stop()
                throw CLIError("the embedded redis-server does not answer over TLS: \(error.message)")
            }
        }
    }

    func stop() async {
        if process.isRunning { await process.terminate(grace: .seconds(5)) }
        try? FileManager.default.removeItem(at: directory)
    }

    /// Whether a Redis server answers at `url` within a second.
    static func answers(_ url: String) async -> Bool {
        await failure(url) == nil
    }

    /// Why no Redis server answers at `url` within a second (a refused connection, a failed TLS handshake, …), or
    /// `nil` when one does.
    static func failure(_ url: String) async -> RedisError? {
        do {
            var configuration = try RedisConfiguration(url: url)
            configuration.connectTimeout = .seconds(1)
            configuration.commandTimeout = .seconds(1)
            let connection = try RedisConnection(configuration: configuration)
            defer { connection.close() }
            _ = try await connection.send("PING")
            return nil
        } catch {
            return error
        }
    }

    /// A port on 127.0.0.1 that was free a moment ago.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw CLIError("cannot open a socket") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let status = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 ? getsockname(fd, pointer, &length) : -1
            }
        }
        guard status == 0 else { throw CLIError("cannot find a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// A new directory only this user can enter (`mkdtemp`: mode 0700, a name nobody could have taken before): it
    /// holds the unencrypted key of the TLS certificate.
    private static func privateDirectory() throws -> URL {
        var template = Array(
            FileManager.default.temporaryDirectory.appendingPathComponent("refresher-redis-XXXXXX").path.utf8CString
        )
        let created = template.withUnsafeMutableBufferPointer { buffer in
            mkdtemp(buffer.baseAddress!).map { String(cString: $0) }
        }
        guard let created else {
            throw CLIError(
                "cannot create a directory for the embedded redis-server: \(String(cString: strerror(errno)))"
            )
        }
        return URL(fileURLWithPath: created)
    }
}
