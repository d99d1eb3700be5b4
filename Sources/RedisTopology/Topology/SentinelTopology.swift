import Synchronization

/// A primary, its replicas and the sentinels that monitor it: `redis-server` processes on loopback ports, for tests
/// and demos that need real failovers.
///
/// ```swift
/// let topology = try await SentinelTopology.start(replicas: 1, sentinels: 3)
/// let url = topology.sentinelURL  // redis-sentinel://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3/0#mymaster
/// let failover = try await topology.failover()  // SENTINEL FAILOVER, until a majority reports the new primary
/// let crashed = try await topology.crashPrimary()  // kill -9
/// let primary = try await topology.waitForNewPrimary(notOn: crashed)
/// await topology.shutdown()
/// ```
///
/// Every wait polls a condition (every 50 ms) with a bound, and says what it saw last when the bound passes.
/// Sentinels start knowing the replicas and each other (`known-replica`, `known-sentinel` in their configuration,
/// as a sentinel's own rewritten file would say after a restart), so that a topology is ready for a failover as soon
/// as its replicas have synchronised (under half a second) instead of after the first hello messages.
///
/// A node that reports itself primary while the sentinels know another one (an old primary resumed or restarted,
/// or the old primary after a `SENTINEL FAILOVER`) is demoted by the sentinels only after a few of their periods
/// (see ``SentinelPeriods``: about 2 s with ``SentinelPeriods/fast``, the default, 10 s with Redis's own). Until
/// then it accepts writes that the sentinels' primary never sees. ``waitUntilReady(timeout:)`` and
/// ``failover(timeout:)`` wait for the demotion.
///
/// Everything is killed by ``shutdown()``, and also when the topology goes away, so that a failed test leaves no
/// process behind.
public final class SentinelTopology: Sendable {
    /// How a topology is built.
    public struct Options: Sendable, CustomStringConvertible, CustomReflectable {
        /// The name the sentinels monitor the primary under.
        public var primaryName: String
        /// How many replicas follow the primary.
        public var replicas: Int
        /// How many sentinels monitor it; the quorum is a majority of them.
        public var sentinels: Int
        /// How long a node may not answer before a sentinel considers it down (`down-after-milliseconds`).
        public var downAfter: Duration
        /// `failover-timeout`: how long a failover may take, and, doubled, how long after one the sentinels wait
        /// before failing the same primary over again on their own (a `SENTINEL FAILOVER` is never held back).
        public var failoverTimeout: Duration
        /// How many replicas resynchronise with a new primary at the same time (`parallel-syncs`).
        public var parallelSyncs: Int
        /// `requirepass` and `masterauth` of the data nodes; the sentinels' `auth-pass`.
        public var password: String?
        /// `requirepass` of the sentinels, and the password they use with each other (`sentinel-pass`).
        public var sentinelPassword: String?
        /// The sentinels' ping, info and hello periods.
        public var periods: SentinelPeriods

        /// Fast defaults for tests: down after 1 s, failover timeout 3 s, ``SentinelPeriods/fast``.
        public init(
            primaryName: String = "mymaster",
            replicas: Int = 1,
            sentinels: Int = 3,
            downAfter: Duration = .milliseconds(1000),
            failoverTimeout: Duration = .seconds(3),
            parallelSyncs: Int = 1,
            password: String? = nil,
            sentinelPassword: String? = nil,
            periods: SentinelPeriods = .fast
        ) {
            self.primaryName = primaryName
            self.replicas = replicas
            self.sentinels = sentinels
            self.downAfter = downAfter
            self.failoverTimeout = failoverTimeout
            self.parallelSyncs = parallelSyncs
            self.password = password
            self.sentinelPassword = sentinelPassword
            self.periods = periods
        }

        /// The shape and timeouts; whether passwords are set, never what they are.
        public var description: String {
            "\(primaryName): 1 primary, \(replicas) replicas, \(sentinels) sentinels, down after \(downAfter), "
                + "failover timeout \(failoverTimeout), periods \(periods)" + (password == nil ? "" : ", password ***")
                + (sentinelPassword == nil ? "" : ", sentinel password ***")
        }

        public var customMirror: Mirror { Mirror(self, children: ["description": description]) }
    }

    /// How it was built.
    public let options: Options
    /// The data nodes; `nodes[0]` was the primary at start, the others its replicas.
    public let nodes: [RedisNodeProcess]
    /// The sentinels.
    public let sentinels: [RedisNodeProcess]
    private let directory: PrivateDirectory
    /// The node that ``pausePrimary()`` stopped, until ``resumeOldPrimary(timeout:)``.
    private let pausedNode = Mutex<RedisNodeProcess?>(nil)

    private init(
        options: Options,
        nodes: [RedisNodeProcess],
        sentinels: [RedisNodeProcess],
        directory: PrivateDirectory
    ) {
        self.options = options
        self.nodes = nodes
        self.sentinels = sentinels
        self.directory = directory
    }

    deinit {
        for node in nodes + sentinels { node.killWithoutWaiting() }
        directory.remove()
    }

    /// The name the sentinels monitor the primary under.
    public var primaryName: String { options.primaryName }

    /// How many sentinels must agree: a majority of them.
    public var quorum: Int { options.sentinels / 2 + 1 }

    /// Where the sentinels listen.
    public var sentinelAddresses: [NodeAddress] { sentinels.map(\.address) }

    /// The data node on `port`.
    public func node(port: Int) -> RedisNodeProcess? {
        nodes.first { $0.port == port }
    }

    /// Starts a primary, `replicas` replicas (`replicaof`) and `sentinels` sentinels that monitor it, and returns once
    /// it is ready for a failover (see ``waitUntilReady(timeout:)``). If it cannot be started within `timeout`,
    /// whatever was started is killed and the error says what was awaited last.
    public static func start(
        _ options: Options = Options(),
        timeout: Duration = .seconds(30)
    ) async throws
        -> SentinelTopology
    {
        guard options.replicas >= 0, options.sentinels >= 1, options.parallelSyncs >= 1 else {
            throw TopologyError("a topology needs replicas >= 0, sentinels >= 1 and parallelSyncs >= 1")
        }
        let directory = try PrivateDirectory(prefix: "redis-sentinel-topology")
        let topology: SentinelTopology
        do {
            let nodePorts = try (0...options.replicas).map { _ throws(TopologyError) in try LoopbackPort.free() }
            let sentinelPorts = try (0..<options.sentinels).map { _ throws(TopologyError) in try LoopbackPort.free() }
            let nodes = try nodePorts.enumerated().map { index, port throws(TopologyError) in
                try RedisNodeProcess(
                    mode: .server,
                    port: port,
                    configuration: index == 0 ? [] : ["replicaof 127.0.0.1 \(nodePorts[0])"],
                    password: options.password,
                    directory: directory.path
                )
            }
            let sentinelIDs = sentinelPorts.map { _ in randomSentinelID() }
            let sentinels = try sentinelPorts.indices.map { index throws(TopologyError) in
                try RedisNodeProcess(
                    mode: .sentinel,
                    port: sentinelPorts[index],
                    configuration: sentinelConfiguration(
                        options,
                        id: sentinelIDs[index],
                        primaryPort: nodePorts[0],
                        replicaPorts: Array(nodePorts.dropFirst()),
                        otherSentinels: sentinelPorts.indices.filter { $0 != index }.map {
                            (port: sentinelPorts[$0], id: sentinelIDs[$0])
                        }
                    ),
                    password: options.sentinelPassword,
                    secrets: [options.password].compactMap { $0 },
                    directory: directory.path
                )
            }
            topology = SentinelTopology(options: options, nodes: nodes, sentinels: sentinels, directory: directory)
        } catch {
            directory.remove()
            throw error
        }
        let deadline = ContinuousClock.now.advanced(by: timeout)
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for node in topology.nodes { group.addTask { try await node.start(timeout: timeout) } }
                try await group.waitForAll()
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for sentinel in topology.sentinels {
                    group.addTask { try await topology.startSentinel(sentinel, timeout: timeout) }
                }
                try await group.waitForAll()
            }
            try await topology.waitUntilReady(timeout: deadline - .now)
        } catch {
            await topology.shutdown()
            throw error
        }
        return topology
    }

    /// Starts a topology with these settings; see ``start(_:timeout:)`` and ``Options``.
    public static func start(
        primaryName: String = "mymaster",
        replicas: Int = 1,
        sentinels: Int = 3,
        downAfter: Duration = .milliseconds(1000),
        failoverTimeout: Duration = .seconds(3),
        password: String? = nil,
        sentinelPassword: String? = nil,
        periods: SentinelPeriods = .fast,
        timeout: Duration = .seconds(30)
    ) async throws -> SentinelTopology {
        try await start(
            Options(
                primaryName: primaryName,
                replicas: replicas,
                sentinels: sentinels,
                downAfter: downAfter,
                failoverTimeout: failoverTimeout,
                password: password,
                sentinelPassword: sentinelPassword,
                periods: periods
            ),
            timeout: timeout
        )
    }

    /// Kills every process, waits until they are reaped, and deletes the configuration files.
    public func shutdown() async {
        await withTaskGroup(of: Void.self) { group in
            for process in nodes + sentinels { group.addTask { await process.shutdown() } }
        }
        directory.remove()
    }

    /// The node that ``pausePrimary()`` stopped, taken out of the record.
    func takePausedNode() -> RedisNodeProcess? {
        pausedNode.withLock { node in
            defer { node = nil }
            return node
        }
    }

    /// Records the node that ``pausePrimary()`` stopped.
    func recordPaused(_ node: RedisNodeProcess) {
        pausedNode.withLock { $0 = node }
    }
}

extension SentinelTopology: CustomStringConvertible, CustomReflectable {
    /// The options and ports; never a password.
    public var description: String {
        "SentinelTopology(\(options); nodes \(nodes.map { String($0.port) }.joined(separator: ",")); sentinels "
            + "\(sentinels.map { String($0.port) }.joined(separator: ",")))"
    }

    public var customMirror: Mirror {
        Mirror(self, children: ["options": options, "nodes": nodes, "sentinels": sentinels])
    }
}
