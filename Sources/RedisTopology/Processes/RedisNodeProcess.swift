import ChildProcesses
import Foundation
import RedisClient
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One `redis-server` on a loopback port, a data node or a sentinel, run from a configuration file in a private
/// directory (Redis rewrites that file: `CONFIG REWRITE`, and a sentinel's record of what it knows), so that a
/// restart on the same port resumes with the role and knowledge the node had.
///
/// ```swift
/// let node = try RedisNodeProcess(configuration: ["maxmemory 10mb"])
/// try await node.start()
/// try await node.send("SET", "k", "v")
/// node.pause()  // SIGSTOP: the node stops answering, its connections stay open
/// node.resume()
/// try await node.kill()  // SIGKILL, like a crash
/// try await node.restart()
/// ```
///
/// A node that goes away kills its process and, if it created it, deletes its directory.
public final class RedisNodeProcess: Sendable, CustomStringConvertible, CustomReflectable {
    /// How `redis-server` runs.
    public enum Mode: Sendable, Hashable {
        /// A data node (a primary or a replica).
        case server
        /// A sentinel (`redis-server FILE --sentinel`).
        case sentinel
    }

    public let mode: Mode
    /// The loopback port it listens on, the same across restarts.
    public let port: Int
    /// Its configuration file, which Redis may have rewritten since.
    public let configurationFile: String
    /// Extra command-line arguments, after the configuration file.
    public let arguments: [String]
    private let password: String?
    /// Strings hidden in the log lines this type reports: the passwords in the configuration.
    private let secrets: [String]
    private let directory: PrivateDirectory
    private let ownsDirectory: Bool
    private let state = Mutex(State())

    private struct State: Sendable {
        var process: ChildProcess?
        var isPaused = false
        var connection: RedisConnection?
    }

    /// Writes the node's configuration file; ``start(timeout:)`` runs it.
    ///
    /// - Parameters:
    ///   - mode: a data node or a sentinel.
    ///   - port: the port to listen on; a free one by default.
    ///   - configuration: configuration lines added to the defaults (loopback only, no persistence, no protected
    ///     mode, replication without delay), e.g. `"replicaof 127.0.0.1 7000"` or `"sentinel monitor ..."`.
    ///   - arguments: command-line arguments after the configuration file, e.g. `["--maxmemory", "10mb"]`.
    ///   - password: `requirepass` (and `masterauth` for a data node); the node's own commands authenticate with it.
    ///   - secrets: other passwords in `configuration`, hidden in the log lines reported in errors.
    ///   - directory: where the configuration file and replication's files go; a fresh private temporary
    ///     directory by default, deleted with the node.
    public init(
        mode: Mode = .server,
        port portArgument: Int? = nil,
        configuration: [String] = [],
        arguments: [String] = [],
        password: String? = nil,
        secrets: [String] = [],
        directory directoryArgument: String? = nil
    ) throws(TopologyError) {
        let port: Int
        if let requested = portArgument { port = requested } else { port = try LoopbackPort.free() }
        let directory: PrivateDirectory
        if let directoryArgument {
            directory = PrivateDirectory(existing: directoryArgument)
        } else {
            directory = try PrivateDirectory(prefix: "redis-\(port)")
        }
        let text = Self.configurationText(
            mode: mode,
            port: port,
            directory: directory.path,
            password: password,
            extra: configuration
        )
        configurationFile = try directory.write(text, to: "\(mode == .sentinel ? "sentinel" : "node")-\(port).conf")
        self.mode = mode
        self.port = port
        self.arguments = arguments
        self.password = password
        self.secrets = ([password] + secrets).compactMap { $0 }.filter { !$0.isEmpty }
        self.directory = directory
        ownsDirectory = directoryArgument == nil
    }

    deinit {
        let (process, connection) = state.withLock { ($0.process, $0.connection) }
        connection?.close()
        process?.kill()
        if ownsDirectory { directory.remove() }
    }

    /// `redis-server` or `sentinel`, and the address.
    public var description: String { "\(mode == .sentinel ? "sentinel" : "redis-server") \(address)" }

    /// The mode, port and configuration file; never a password.
    public var customMirror: Mirror {
        Mirror(self, children: ["mode": mode, "port": port, "configurationFile": configurationFile, "pid": pid as Any])
    }

    /// Where it listens.
    public var address: NodeAddress { NodeAddress(port: port) }

    /// The process ID while it runs.
    public var pid: Int32? { state.withLock { $0.process?.processIdentifier } }

    /// Whether its process runs (stopped by ``pause()`` included).
    public var isRunning: Bool { state.withLock { $0.process?.isRunning ?? false } }

    /// Whether it was stopped by ``pause()`` and not resumed since.
    public var isPaused: Bool { state.withLock { $0.isPaused } }

    /// Starts the process and returns once it answers `PING` (not `-LOADING`). Throws if it exits first (with the
    /// end of its log, passwords hidden) or does not answer within `timeout`.
    public func start(timeout: Duration = .seconds(10)) async throws {
        guard !isRunning else { throw TopologyError("\(self) is already running") }
        let process = try await ChildProcess.start(
            .init(
                executable: try Self.executable(),
                arguments: [configurationFile] + (mode == .sentinel ? ["--sentinel"] : []) + arguments,
                standardOutput: .collect,
                standardError: .collect
            )
        )
        state.withLock {
            $0.process = process
            $0.isPaused = false
        }
        try await poll("\(self) answers PING", timeout: timeout) { () async throws -> Check<Void> in
            guard process.isRunning else {
                return .failed(TopologyError("\(self) exited: \(logLines(process).suffix(3).joined(separator: "; "))"))
            }
            return try await send("PING") == .status("PONG") ? .met(()) : .unmet("no PONG")
        }
    }

    /// Kills the process (`SIGKILL`, like a crash, also when it is paused) and returns once it has been reaped.
    public func kill() async throws {
        guard let process = state.withLock({ $0.process }) else { return }
        process.kill()
        try await process.wait(timeout: .seconds(10))
        state.withLock {
            $0.process = nil
            $0.isPaused = false
        }
    }

    /// Sends `SIGKILL` without waiting for the process to end: for `deinit`.
    func killWithoutWaiting() {
        state.withLock { $0.process }?.kill()
    }

    /// Kills the process if it runs, then starts it again on the same port from its configuration file (as Redis
    /// last rewrote it).
    public func restart(timeout: Duration = .seconds(10)) async throws {
        try await kill()
        try await start(timeout: timeout)
    }

    /// Stops the process (`SIGSTOP`): it answers nothing, its sockets stay open, and its peers see it as down once
    /// their timeouts pass.
    public func pause() {
        guard let process = state.withLock({ $0.process }) else { return }
        process.send(SIGSTOP)
        state.withLock { $0.isPaused = true }
    }

    /// Lets a paused process run again (`SIGCONT`).
    public func resume() {
        guard let process = state.withLock({ $0.process }) else { return }
        process.send(SIGCONT)
        state.withLock { $0.isPaused = false }
    }

    /// The lines it has logged since its last start, passwords hidden.
    public func logLines() -> [String] {
        guard let process = state.withLock({ $0.process }) else { return [] }
        return logLines(process)
    }

    private func logLines(_ process: ChildProcess) -> [String] {
        (process.lines(of: .standardOutput) + process.lines(of: .standardError)).map { line in
            secrets.reduce(line) { $0.replacingOccurrences(of: $1, with: "***") }
        }
    }

    /// Kills the process and closes the connection of ``connection()``; the directory stays until the node goes
    /// away.
    public func shutdown() async {
        try? await kill()
        state.withLock {
            $0.connection?.close()
            $0.connection = nil
        }
    }

    /// The path of `redis-server`.
    package static func executable() throws(TopologyError) -> String {
        for directory in ["/usr/bin", "/usr/local/bin", "/usr/sbin"] {
            let path = "\(directory)/redis-server"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw TopologyError("redis-server is not installed (apt-get install redis-server)")
    }

    /// The connection ``send(_:)`` uses: one per node, authenticated with its password, with short timeouts so that
    /// a paused or dead node fails a command within about a second. It reconnects by itself after a restart.
    public func connection() throws(TopologyError) -> RedisConnection {
        try state.withLock { state throws(TopologyError) -> RedisConnection in
            if let connection = state.connection { return connection }
            let configuration = RedisConfiguration(
                endpoint: .tcp(host: "127.0.0.1", port: port),
                password: password,
                connectTimeout: .seconds(1),
                commandTimeout: .seconds(2),
                clientName: "redis-topology"
            )
            do {
                let connection = try RedisConnection(configuration: configuration, name: "topology-\(port)")
                state.connection = connection
                return connection
            } catch {
                throw TopologyError("cannot create a connection to \(self): \(error)")
            }
        }
    }
}
