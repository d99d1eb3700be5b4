import ChildProcesses
import Foundation
import RedisClient
import RedisTopology
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A throwaway `redis-server` on a free loopback port, for tests that restart, reconfigure or kill connections on a
/// server and must not disturb other tests. Killed when it goes away.
public final class RedisServerProcess: Sendable {
    public let port: Int
    public let arguments: [String]
    private let process = Mutex<ChildProcess?>(nil)

    /// The URL of this server (add user info for AUTH yourself).
    public var url: String { "redis://127.0.0.1:\(port)" }

    /// The process ID while running.
    public var pid: Int32? { process.withLock { $0?.processIdentifier } }

    /// Starts `redis-server` with `arguments` (e.g. `["--requirepass", "secret"]`) and waits until it answers.
    ///
    /// Without a given `port`, a port another process took between the choice and the bind (a demo's cluster started
    /// by a CLI test picks its ports on its own) is replaced by another one, up to three times.
    public init(arguments: [String] = [], port: Int? = nil) async throws {
        self.arguments = arguments
        var chosen = try port ?? freeLoopbackPort()
        var attempts = 0
        while true {
            do {
                let server = try await Self.launch(port: chosen, arguments: arguments)
                self.port = chosen
                process.withLock { $0 = server }
                return
            } catch let error as TestSupportError
                where port == nil && attempts < 3 && error.description.contains("Address already in use")
            {
                attempts += 1
                chosen = try freeLoopbackPort()
            }
        }
    }

    /// Starts the server process again on the same port (after ``stop()`` or a crash).
    public func start() async throws {
        let server = try await Self.launch(port: port, arguments: arguments)
        process.withLock { $0 = server }
    }

    /// Starts `redis-server` on `port` and waits until it answers; a server that exits says why.
    private static func launch(port: Int, arguments: [String]) async throws -> ChildProcess {
        let server = try await ChildProcess.start(
            .init(
                executable: try RedisNodeProcess.executable(),
                arguments: [
                    "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize",
                    "no", "--protected-mode", "no", "--loglevel", "warning",
                ] + arguments,
                standardOutput: .collect,
                standardError: .collect
            )
        )
        do {
            try await waitUntil(timeout: .seconds(10), "redis-server on port \(port) answers PING") {
                // A server that cannot start (a port taken meanwhile, a bad argument) says why in its log, on stdout.
                guard server.isRunning else {
                    let log = (server.lines() + server.lines(of: .standardError)).suffix(3).joined(separator: "; ")
                    throw TestSupportError("redis-server on port \(port) exited: \(log)")
                }
                return answersPing(port: port)
            }
        } catch {
            server.kill()
            throw error
        }
        return server
    }

    /// Kills the server (SIGKILL by default, like a crash) and waits for the process to end.
    public func stop(signal: Int32 = SIGKILL) async throws {
        guard let server = process.withLock({ $0 }) else { return }
        if signal == SIGKILL { server.kill() } else { server.send(signal) }
        try await server.wait(timeout: .seconds(10))
        process.withLock { $0 = nil }
    }

    /// Sends a signal (SIGSTOP, SIGCONT, ...) to the server.
    public func signal(_ signal: Int32) {
        process.withLock { $0 }?.send(signal)
    }

    /// A raw-socket PING, independent of the client under test.
    public static func answersPing(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { return false }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let ping = Array("PING\r\n".utf8)
        guard write(fd, ping, ping.count) == ping.count else { return false }
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = read(fd, &buffer, buffer.count)
        // "+PONG" or "-NOAUTH"/"-LOADING": anything but LOADING means the server is serving.
        guard count > 0 else { return false }
        return !String(decoding: buffer[0..<count], as: UTF8.self).hasPrefix("-LOADING")
    }
}

/// A port on 127.0.0.1 that was free a moment ago, never handed out before in this process (see
/// ``LoopbackPort/free()``, which the topologies' nodes share).
public func freeLoopbackPort() throws -> Int {
    try LoopbackPort.free()
}

/// A TCP socket bound (not listening) to a free port on 127.0.0.1; the caller closes it.
public func bindLoopbackSocket() throws -> (fd: Int32, port: Int) {
    try bindLoopbackSocket(requesting: 0)
}

private func bindLoopbackSocket(requesting requested: Int) throws -> (fd: Int32, port: Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw TestSupportError("socket() failed") }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(requested).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
            guard bind(fd, pointer, length) == 0 else { return -1 }
            return getsockname(fd, pointer, &length)
        }
    }
    guard bound == 0 else {
        close(fd)
        throw TestSupportError("cannot bind a loopback port")
    }
    return (fd, Int(UInt16(bigEndian: address.sin_port)))
}

/// A failure of the test scaffolding itself.
public struct TestSupportError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Polls `condition` every 10 ms until it holds, failing after `timeout`. Waiting on a condition with a bound,
/// never sleeping on a guess.
public func waitUntil(
    timeout: Duration,
    _ what: String,
    _ condition: @Sendable () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while true {
        if try await condition() { return }
        guard ContinuousClock.now < deadline else {
            throw TestSupportError("timed out after \(timeout) waiting: \(what)")
        }
        try await Task.sleep(for: .milliseconds(10))
    }
}

/// The shared test server: `REDIS_URL`, default `redis://127.0.0.1:6379`.
public enum TestRedis {
    public static var url: String { ProcessInfo.processInfo.environment["REDIS_URL"] ?? "redis://127.0.0.1:6379" }

    /// A key prefix no other test uses.
    public static func uniquePrefix(_ name: String = "test") -> String {
        "\(name):\(UUID().uuidString.prefix(8))"
    }
}
