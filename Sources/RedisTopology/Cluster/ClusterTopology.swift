import RedisClient
import Synchronization

/// A Redis Cluster on loopback ports: primaries that share the 16384 hash slots, each with its replicas, for
/// tests, demos and benchmarks that need real resharding and failovers.
///
/// ```swift
/// let cluster = try await ClusterTopology.start(.init(primaries: 3, replicasPerPrimary: 1))
/// let url = cluster.seedURL  // redis-cluster://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3
/// let slot = ClusterTopology.slot(forKey: "{user1}:session")
/// try await cluster.migrate(slot: slot, to: cluster.primaryPorts[1])  // the old owner answers MOVED
/// let promoted = try await cluster.failover(shardOf: cluster.primaryPorts[0])  // CLUSTER FAILOVER on a replica
/// try await cluster.crashPrimary(port: promoted)  // kill -9
/// let replacement = try await cluster.waitForNewPrimary(replacing: promoted)
/// await cluster.shutdown()
/// ```
///
/// The cluster is built without `redis-cli --cluster create`: slots by `CLUSTER ADDSLOTSRANGE` (even ranges), a
/// distinct configuration epoch per node, every node meeting every other (`CLUSTER MEET`), then
/// `CLUSTER REPLICATE`. ``start(_:timeout:)`` returns once the cluster is stable (see
/// ``waitUntilStable(timeout:)``), which takes about 2 s: a primary reports `cluster_state:ok` no sooner than 2 s
/// after its start (Redis holds a restarted primary back for that long before serving).
///
/// Every node has a data port and a cluster bus port (`cluster-port`) of its own, both from
/// ``LoopbackPort/free()``, so that clusters of concurrent tests never collide. A node's cluster configuration file
/// sits in the topology's private directory and keeps its ID and what it knows across ``restart(port:timeout:)``.
///
/// Every wait polls (every 50 ms) with a bound, and says what it saw last when the bound passes. Everything is
/// killed by ``shutdown()``, and also when the topology goes away, so that a failed test leaves no process behind.
public final class ClusterTopology: Sendable {
    /// How a cluster is built.
    public struct Options: Sendable, CustomStringConvertible, CustomReflectable {
        /// How many primaries share the slots, in even ranges.
        public var primaries: Int
        /// How many replicas each primary has.
        public var replicasPerPrimary: Int
        /// `cluster-node-timeout`: how long a node may not answer before the others flag it failing; a replica of a
        /// crashed primary takes over about twice this later.
        public var nodeTimeout: Duration
        /// `requirepass` and `masterauth` of every node, and the `AUTH` of `MIGRATE`.
        public var password: String?
        /// Configuration lines added to every node's, e.g. `"maxmemory 100mb"`.
        public var configuration: [String]

        /// Three primaries with one replica each, node timeout 1 s: a crashed primary is replaced in 2-3 s.
        public init(
            primaries: Int = 3,
            replicasPerPrimary: Int = 1,
            nodeTimeout: Duration = .milliseconds(1000),
            password: String? = nil,
            configuration: [String] = []
        ) {
            self.primaries = primaries
            self.replicasPerPrimary = replicasPerPrimary
            self.nodeTimeout = nodeTimeout
            self.password = password
            self.configuration = configuration
        }

        /// The shape and timeout; whether a password is set, never what it is.
        public var description: String {
            "\(primaries) primaries, \(replicasPerPrimary) replicas each, node timeout \(nodeTimeout)"
                + (configuration.isEmpty ? "" : ", \(configuration.count) configuration lines")
                + (password == nil ? "" : ", password ***")
        }

        public var customMirror: Mirror { Mirror(self, children: ["description": description]) }
    }

    /// How it was built.
    public let options: Options
    /// The nodes: the first `primaries` were the primaries at start, in slot order; then the replicas of the first
    /// primary, of the second, and so on.
    public let nodes: [RedisNodeProcess]
    /// Every node's cluster bus port, by data port.
    let busPorts: [Int: Int]
    private let directory: PrivateDirectory
    private let state = Mutex(State())

    private struct State: Sendable {
        /// Every node's cluster ID by data port, once started (a node keeps it across restarts).
        var nodeIDs: [Int: String] = [:]
        var startDuration: Duration = .zero
        /// The slots of each primary that ``crashPrimary(port:)`` or ``stopShard(of:timeout:)`` killed.
        var killedPrimarySlots: [Int: [ClosedRange<Int>]] = [:]
    }

    init(options: Options, nodes: [RedisNodeProcess], busPorts: [Int: Int], directory: PrivateDirectory) {
        self.options = options
        self.nodes = nodes
        self.busPorts = busPorts
        self.directory = directory
    }

    deinit {
        for node in nodes { node.killWithoutWaiting() }
        directory.remove()
    }

    /// The node on `port`.
    public func node(port: Int) -> RedisNodeProcess? {
        nodes.first { $0.port == port }
    }

    /// From launching the processes to a stable cluster, in ``start(_:timeout:)``.
    public var startDuration: Duration { state.withLock { $0.startDuration } }

    /// The cluster ID of the node on `port`.
    public func nodeID(port: Int) -> String? {
        state.withLock { $0.nodeIDs[port] }
    }

    /// The hash slot of `key`: CRC16 (XMODEM) of the key, or of its hash tag (the text between the first `{` and
    /// the next `}`, when not empty), modulo 16384; what `CLUSTER KEYSLOT` answers.
    public static func slot(forKey key: String) -> Int {
        HashSlot.of(key)
    }

    /// The hash slot of a binary key, as for a `String` key.
    public static func slot(forKey key: [UInt8]) -> Int {
        HashSlot.of(key)
    }

    /// Kills every node, waits until they are reaped, and deletes the configuration files.
    public func shutdown() async {
        await withTaskGroup(of: Void.self) { group in
            for node in nodes { group.addTask { await node.shutdown() } }
        }
        directory.remove()
    }

    /// The nodes whose processes run and are not paused.
    var liveNodes: [RedisNodeProcess] {
        nodes.filter { $0.isRunning && !$0.isPaused }
    }

    /// The node on `port`, or an error that says there is none.
    func requireNode(port: Int) throws(TopologyError) -> RedisNodeProcess {
        guard let node = node(port: port) else { throw TopologyError("no node of the cluster on port \(port)") }
        return node
    }

    /// The cluster ID of the node on `port`, or an error that says there is none.
    func requireID(port: Int) throws(TopologyError) -> String {
        guard let id = nodeID(port: port) else { throw TopologyError("no node of the cluster on port \(port)") }
        return id
    }
}

extension ClusterTopology {
    func record(nodeIDs: [Int: String]) {
        state.withLock { $0.nodeIDs = nodeIDs }
    }

    func record(startDuration: Duration) {
        state.withLock { $0.startDuration = startDuration }
    }

    func recordKilled(primary port: Int, slots: [ClosedRange<Int>]) {
        state.withLock { $0.killedPrimarySlots[port] = slots }
    }

    func killedSlots(ofPrimary port: Int) -> [ClosedRange<Int>]? {
        state.withLock { $0.killedPrimarySlots[port] }
    }
}

extension ClusterTopology: CustomStringConvertible, CustomReflectable {
    /// The options and ports; never a password.
    public var description: String {
        "ClusterTopology(\(options); nodes \(nodes.map { String($0.port) }.joined(separator: ",")))"
    }

    public var customMirror: Mirror {
        Mirror(self, children: ["options": options, "nodes": nodes])
    }
}
