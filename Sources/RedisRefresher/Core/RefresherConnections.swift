import Logging
import RedisClient
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The Redis connections a process shares between all its refreshers: one command connection (pipelined
/// automatically) and one subscriber connection whose events are fanned out in-process, plus the process's lock
/// owner id. Create one and pass it to every ``RedisRefresher`` to serve many sessions (tenants) over two
/// connections.
public final class RefresherConnections: Sendable {
    /// This process's owner id: `host:pid:random`. Each lock acquisition adds a counter to it (`host:pid:random-N`),
    /// so a check sent again after its reply was lost recognises its own lock.
    public let ownerID: String
    private let acquisitions = Atomic<UInt64>(0)
    /// The command connection.
    public let commands: RedisConnection
    let subscriber: RedisSubscriber
    let hub: EventHub
    let logger: Logger
    /// The connection for writes that replicas must acknowledge, made when a refresher first needs it.
    private let acknowledged = Mutex<RedisConnection?>(nil)
    /// Whether the command connection's server has loaded the scripts once.
    private let scriptLoad = Mutex<Task<Result<Void, RedisError>, Never>?>(nil)
    private let scriptsLoaded = Atomic<Bool>(false)
    private let shutdownHooks = Mutex<[UInt64: @Sendable (Duration) async -> Void]>([:])
    private let nextHookID = Atomic<UInt64>(0)

    /// Connections to the server at `url` (no I/O happens until first use), with a command timeout of
    /// `commandTimeout` (which must stay below a third of the lock TTL of every refresher using them).
    public convenience init(
        url: String,
        ownerID: String? = nil,
        commandTimeout: Duration = .seconds(3),
        logger: Logger = Logger(label: "redis-refresher")
    ) throws(RefresherError) {
        var configuration: RedisConfiguration
        do {
            configuration = try RedisConfiguration(url: url)
        } catch {
            throw RefresherError(.invalidConfiguration, "the Redis URL: \(error.message)")
        }
        configuration.commandTimeout = commandTimeout
        try self.init(configuration: configuration, ownerID: ownerID, logger: logger)
    }

    /// Connections with a full client configuration.
    public init(
        configuration: RedisConfiguration,
        ownerID: String? = nil,
        logger: Logger = Logger(label: "redis-refresher")
    ) throws(RefresherError) {
        let owner = ownerID ?? Self.makeOwnerID()
        guard !owner.isEmpty, owner.utf8.count <= 200, !owner.utf8.contains(where: { $0 <= 32 || $0 >= 127 }) else {
            throw RefresherError(
                .invalidConfiguration,
                "an owner id must be 1-200 printable ASCII bytes without spaces"
            )
        }
        do {
            var commandConfiguration = configuration
            commandConfiguration.clientName = commandConfiguration.clientName ?? "refresher"
            commands = try RedisConnection(configuration: commandConfiguration, name: "refresher-cmd")
            var subscriberConfiguration = configuration
            subscriberConfiguration.clientName = subscriberConfiguration.clientName ?? "refresher-sub"
            subscriber = try RedisSubscriber(configuration: subscriberConfiguration, name: "refresher-sub")
        } catch {
            throw RefresherError(redis: error)
        }
        self.ownerID = owner
        self.logger = logger
        self.hub = EventHub(subscriber: subscriber, logger: logger)
    }

    /// Shuts down every refresher using these connections (see ``RedisRefresher/shutdown(gracePeriod:)``), then
    /// closes the connections.
    public func shutdown(gracePeriod: Duration = .seconds(5)) async {
        let hooks = shutdownHooks.withLock { hooks in
            defer { hooks = [:] }
            return Array(hooks.values)
        }
        await withTaskGroup(of: Void.self) { group in
            for hook in hooks { group.addTask { await hook(gracePeriod) } }
        }
        closeConnections()
    }

    /// The connection for the holder's writes that replicas must acknowledge (``ReplicaAcknowledgement``): its own,
    /// because each such write is followed by a `WAIT` that holds up everything queued behind it. Its command timeout
    /// leaves room for the longest `WAIT` (10 s).
    func acknowledgedWrites() throws(RefresherError) -> RedisConnection {
        let result: Result<RedisConnection, RedisError> = acknowledged.withLock { connection in
            if let connection { return .success(connection) }
            var configuration = commands.configuration
            configuration.commandTimeout = configuration.commandTimeout + .seconds(10)
            configuration.clientName = (configuration.clientName ?? "refresher") + "-ack"
            let created = Result { () throws(RedisError) in
                try RedisConnection(configuration: configuration, name: "refresher-ack")
            }
            if case .success(let made) = created { connection = made }
            return created
        }
        do { return try result.get() } catch { throw RefresherError(redis: error) }
    }

    /// Checks that Redis answers for a refresher being created: the first time, by loading `scripts` (on every
    /// primary of a cluster; a wrong password or a missing ACL permission shows at once); once that succeeded, with a
    /// `PING`, so a process creating thousands of refreshers sends the scripts once, not once per session. Scripts a
    /// server lost since (a restart, a failover, `SCRIPT FLUSH`, a new node) are sent again on demand.
    func prepare(_ scripts: [RedisScript]) async throws(RedisError) {
        if scriptsLoaded.load(ordering: .relaxed) {
            _ = try await commands.send("PING")
            return
        }
        // Refreshers created together share the first load instead of each sending the scripts.
        let load = scriptLoad.withLock { load in
            if let load { return load }
            let commands = self.commands
            let started = Task { () -> Result<Void, RedisError> in
                do throws(RedisError) {
                    return .success(try await commands.load(scripts))
                } catch {
                    return .failure(error)
                }
            }
            load = started
            return started
        }
        switch await load.value {
        case .success:
            scriptsLoaded.store(true, ordering: .relaxed)
        case .failure(let error):
            // A failed load is not shared with later refreshers: they try again.
            scriptLoad.withLock { if $0 == load { $0 = nil } }
            throw error
        }
    }

    private func closeConnections() {
        hub.close()
        subscriber.close()
        commands.close()
        acknowledged.withLock { $0 }?.close()
    }

    /// A new lock owner id for one acquisition: ``ownerID`` plus `-N`.
    func nextAcquisitionID() -> String {
        "\(ownerID)-\(acquisitions.add(1, ordering: .relaxed).newValue)"
    }

    /// Whether `owner` (a lock value) is one of this process's acquisitions.
    package func owns(_ owner: String) -> Bool {
        owner.hasPrefix(ownerID + "-")
    }

    func addShutdownHook(_ hook: @escaping @Sendable (Duration) async -> Void) -> UInt64 {
        let id = nextHookID.add(1, ordering: .relaxed).newValue
        shutdownHooks.withLock { $0[id] = hook }
        return id
    }

    func removeShutdownHook(_ id: UInt64) {
        _ = shutdownHooks.withLock { $0.removeValue(forKey: id) }
    }

    /// Closes the connections of a value dropped without ``shutdown(gracePeriod:)``, so their I/O threads end.
    deinit {
        closeConnections()
    }

    /// `host:pid:random`, where random is 8 hex digits, so two processes never share an id.
    static func makeOwnerID() -> String {
        var buffer = [UInt8](repeating: 0, count: 256)
        let host =
            buffer.withUnsafeMutableBufferPointer { pointer in
                pointer.withMemoryRebound(to: CChar.self) { gethostname($0.baseAddress!, $0.count) }
            } == 0 ? String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self) : "unknown-host"
        let cleanHost = String(host.unicodeScalars.filter { $0.isASCII && $0.value > 32 && $0 != ":" }.prefix(64))
        let random = String(UInt32.random(in: .min ... .max), radix: 16)
        return
            "\(cleanHost.isEmpty ? "host" : cleanHost):\(getpid()):\(String(repeating: "0", count: 8 - random.count))\(random)"
    }
}
