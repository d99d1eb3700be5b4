import ChildProcesses
import Foundation
import RedisRefresher

#if canImport(Glibc)
import Glibc
#endif

/// A throwaway `redis-server` on a free loopback port, without persistence, for the demo and benchmarks when no
/// Redis answers. Stopped (SIGTERM, then SIGKILL) by ``stop()``.
final class EmbeddedRedis: Sendable {
    let port: Int
    let process: ChildProcess
    let directory: URL
    var url: String { "redis://127.0.0.1:\(port)" }

    /// Whether the server runs at a raised priority (see `init(priority:)`).
    let raisedPriority: Bool

    /// - Parameter raisePriority: run the server at nice -10 when permitted (root). Benchmarks use it to stand in for
    ///   a Redis on a host of its own: on a 2-core machine shared with dozens of worker processes, the server would
    ///   otherwise wait for a CPU behind them, and every round trip would measure the scheduler.
    init(raisePriority: Bool = false) async throws {
        guard
            let binary = ["/usr/bin/redis-server", "/usr/local/bin/redis-server", "/usr/sbin/redis-server"]
                .first(where: { FileManager.default.isExecutableFile(atPath: $0) })
        else {
            throw CLIError("no Redis answers and redis-server is not installed (apt-get install redis-server)")
        }
        port = try Self.freePort()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("refresher-redis-\(port)")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        process = try await ChildProcess.start(
            .init(
                executable: binary,
                arguments: [
                    "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir",
                    directory.path, "--loglevel", "warning",
                ],
                standardOutput: .discard,
                standardError: .discard
            )
        )
        raisedPriority =
            raisePriority
            && setpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(process.processIdentifier), -10) == 0
        let connection = try RedisConnection(url: url)
        defer { connection.close() }
        let deadline = ContinuousClock.now.advanced(by: .seconds(10))
        while true {
            if (try? await connection.send("PING")) != nil { return }
            guard ContinuousClock.now < deadline, process.isRunning else {
                await stop()
                throw CLIError("the embedded redis-server did not start on port \(port)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    func stop() async {
        if process.isRunning { await process.terminate(grace: .seconds(5)) }
        try? FileManager.default.removeItem(at: directory)
    }

    /// Whether a Redis server answers at `url` within a second.
    static func answers(_ url: String) async -> Bool {
        guard var configuration = try? RedisConfiguration(url: url) else { return false }
        configuration.connectTimeout = .seconds(1)
        configuration.commandTimeout = .seconds(1)
        guard let connection = try? RedisConnection(configuration: configuration) else { return false }
        defer { connection.close() }
        return (try? await connection.send("PING")) != nil
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
}
