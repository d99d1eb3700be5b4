import ChildProcesses
import Foundation
import RedisTestSupport

/// One `redis-server --sentinel` on a free loopback port with a password of its own, monitoring one primary: enough
/// for the CLI to find a primary through a sentinel that needs `AUTH` (the Sentinel suites of the library run whole
/// topologies).
final class SentinelProcess: Sendable {
    let port: Int
    private let directory: URL
    private let process: ChildProcess

    /// Starts a sentinel that monitors `127.0.0.1:primaryPort` as `name` (with `primaryPassword`, if any) and
    /// requires `password` itself, and waits until it answers.
    init(monitoring primaryPort: Int, name: String, primaryPassword: String?, password: String) async throws {
        port = try freeLoopbackPort()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("sentinel-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // A sentinel rewrites its configuration file, so each one gets its own.
        var lines = [
            "port \(port)", "bind 127.0.0.1", "dir \(directory.path)", "requirepass \(password)",
            "sentinel monitor \(name) 127.0.0.1 \(primaryPort) 1",
        ]
        if let primaryPassword { lines.append("sentinel auth-pass \(name) \(primaryPassword)") }
        let file = directory.appendingPathComponent("sentinel.conf")
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: file)
        guard
            let server = ["/usr/bin", "/usr/local/bin", "/usr/sbin"].map({ "\($0)/redis-server" }).first(where: {
                FileManager.default.isExecutableFile(atPath: $0)
            })
        else { throw TestSupportError("redis-server is not installed") }
        process = try await ChildProcess.start(.init(executable: server, arguments: [file.path, "--sentinel"]))
        let port = port
        let process = process
        try await waitUntil(timeout: .seconds(10), "the sentinel on port \(port) answers") {
            guard process.isRunning else {
                throw TestSupportError("the sentinel exited: \(process.lines().suffix(3).joined(separator: "; "))")
            }
            return RedisServerProcess.answersPing(port: port)
        }
    }

    /// Kills the sentinel and removes its directory.
    func stop() async throws {
        process.kill()
        try await process.wait(timeout: .seconds(10))
        try? FileManager.default.removeItem(at: directory)
    }
}
