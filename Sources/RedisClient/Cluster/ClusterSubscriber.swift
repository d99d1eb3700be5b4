import Synchronization

/// Sharded pub/sub on a Redis Cluster: each channel is subscribed with `SSUBSCRIBE` on the primary that serves its
/// slot, over one subscriber connection per primary, and moved when the cluster moves it.
///
/// A node pushes `sunsubscribe` for a channel whose slot it no longer serves (a resharding, a failover that demoted
/// it), and a node that cannot be reconnected to is gone: its driver reports the channels (``SubscriberDriver``'s
/// `onMoved`), the slot map is fetched again, and the channels' subscriptions are registered on the node that serves
/// them now, where they get a ``RedisSubscriptionEvent/gap`` once subscribed (messages published in between may be
/// lost; listeners re-read state). A subscription is never left on a node that stopped serving it.
final class ClusterSubscriber: Sendable {
    typealias Node = RedisConfiguration.Cluster.Node
    typealias SubscriptionID = SubscriberDriver.StateMachine.SubscriptionID

    private struct NodeSubscriber {
        let driver: SubscriberDriver
        let loop: IOLoop
    }

    private struct State {
        var nodes: [Node: NodeSubscriber] = [:]
        /// The node each wanted channel is registered on.
        var channelNodes: [String: Node] = [:]
        /// How many subscriptions want each channel.
        var channelCounts: [String: Int] = [:]
        /// Every subscription's channels and sink, to move them.
        var subscriptions: [SubscriptionID: (channels: [String], sink: SubscriptionSink)] = [:]
        var nextID: SubscriptionID = 0
        var closed = false
    }

    private let configuration: RedisConfiguration
    private let router: ClusterRouter
    private let name: String
    private let pingInterval: Duration
    private let state = Mutex(State())

    init(configuration: RedisConfiguration, cluster: RedisConfiguration.Cluster, name: String, pingInterval: Duration) {
        self.configuration = configuration
        self.router = ClusterRouter(configuration: configuration, cluster: cluster, name: "\(name)-map")
        self.name = name
        self.pingInterval = pingInterval
    }

    /// Whether every wanted channel is confirmed on the node it is registered on.
    var isSubscribedToAll: Bool {
        state.withLock { Array($0.nodes.values) }.allSatisfy { $0.driver.isSubscribedToAll }
    }

    func close() {
        let nodes = state.withLock { state in
            state.closed = true
            defer { state.nodes = [:] }
            return Array(state.nodes.values)
        }
        for node in nodes { node.loop.stop() }
        router.close()
    }

    /// Registers a subscription to `channels`, each on the node that serves it, and returns once every one is
    /// confirmed there (following moves that happen meanwhile).
    func register(channels: [String], sink: SubscriptionSink) async throws(RedisError) -> SubscriptionID {
        let map = try await router.currentMap()
        let (id, failure) = state.withLock { state -> (SubscriptionID, RedisError?) in
            guard !state.closed else { return (0, RedisError(.clientClosed, "the subscriber was closed")) }
            state.nextID += 1
            let id = state.nextID
            state.subscriptions[id] = (channels, sink)
            for channel in channels { state.channelCounts[channel, default: 0] += 1 }
            do throws(RedisError) {
                for channel in channels {
                    guard let node = state.channelNodes[channel] ?? Self.owner(of: channel, in: map) else {
                        throw RedisError(.server, "CLUSTERDOWN no node serves the slot of a channel")
                    }
                    try add(state: &state, id: id, channels: [channel], sink: sink, node: node)
                }
            } catch {
                return (id, error)
            }
            return (id, nil)
        }
        if let failure {
            unregister(id: id)
            throw failure
        }
        do throws(RedisError) {
            try await awaitConfirmation(id: id, channels: channels)
        } catch {
            unregister(id: id)
            throw error
        }
        return id
    }

    /// Removes subscription `id` from the nodes its channels are on now.
    func unregister(id: SubscriptionID) {
        let touched = state.withLock { state -> [IOLoop] in
            guard let subscription = state.subscriptions.removeValue(forKey: id) else { return [] }
            var loops: [IOLoop] = []
            for channel in subscription.channels {
                let remaining = (state.channelCounts[channel] ?? 1) - 1
                state.channelCounts[channel] = remaining > 0 ? remaining : nil
                guard let node = state.channelNodes[channel], let subscriber = state.nodes[node] else { continue }
                subscriber.driver.unregister(id: id, channels: [channel])
                if remaining <= 0 { state.channelNodes[channel] = nil }
                loops.append(subscriber.loop)
            }
            return loops
        }
        for loop in touched { loop.wake() }
    }

    /// Waits until each channel of subscription `id` is confirmed on its current node; a channel moved while waiting
    /// is waited for on its new node.
    private func awaitConfirmation(id: SubscriptionID, channels: [String]) async throws(RedisError) {
        for channel in channels {
            while true {
                let driver = state.withLock { state in state.channelNodes[channel].flatMap { state.nodes[$0]?.driver } }
                guard let driver else { throw RedisError(.clientClosed, "the subscriber was closed") }
                do {
                    try await driver.awaitConfirmation(id: id, channels: [channel])
                    break
                } catch let error as RedisError where error.code == .moved {
                    // The node let the channel go before confirming it, and took this subscription's registration
                    // with it: register again where the cluster serves the channel now.
                    try await reregister(id: id, channel: channel)
                } catch let error as RedisError {
                    throw error
                } catch {
                    throw RedisError(.io, "\(error)")
                }
            }
        }
    }

    /// Registers subscription `id` for `channel` again, on the node that serves it per a fresh map.
    private func reregister(id: SubscriptionID, channel: String) async throws(RedisError) {
        let map = try await router.refreshMap()
        try state.withLock { state throws(RedisError) in
            guard !state.closed else { throw RedisError(.clientClosed, "the subscriber was closed") }
            guard let subscription = state.subscriptions[id] else { return }
            guard let node = state.channelNodes[channel] ?? Self.owner(of: channel, in: map) else {
                throw RedisError(.server, "CLUSTERDOWN no node serves the slot of a channel")
            }
            try add(state: &state, id: id, channels: [channel], sink: subscription.sink, node: node)
        }
    }

    /// Adds registrations on `node`, making its subscriber connection on first use. Called with the lock held.
    private func add(
        state: inout State,
        id: SubscriptionID,
        channels: [String],
        sink: SubscriptionSink,
        node: Node
    ) throws(RedisError) {
        let subscriber = try self.subscriber(state: &state, node: node)
        try subscriber.driver.register(channels: channels, sink: sink, id: id)
        for channel in channels { state.channelNodes[channel] = node }
        subscriber.loop.wake()
    }

    /// The subscriber of `node`, made on first use. Called with the lock held.
    private func subscriber(state: inout State, node: Node) throws(RedisError) -> NodeSubscriber {
        if let existing = state.nodes[node] { return existing }
        let driver = SubscriberDriver(
            pingInterval: pingInterval,
            commandTimeout: configuration.commandTimeout,
            mode: .sharded,
            onMoved: { [weak self] channels in self?.moved(channels, from: node) }
        )
        let loop = try IOLoop(
            configuration: configuration.node(host: node.host, port: node.port),
            name: "\(name)-\(node.port)"
        )
        try loop.start(driver: driver)
        let subscriber = NodeSubscriber(driver: driver, loop: loop)
        state.nodes[node] = subscriber
        return subscriber
    }

    /// The primary serving `channel`'s slot.
    private static func owner(of channel: String, in map: ClusterSlotMap) -> Node? {
        map.primary(forSlot: HashSlot.of(channel))
    }

    /// `node` stopped serving `channels` (its driver says so, on its I/O thread): fetch the map and move them.
    private func moved(_ channels: [String], from node: Node) {
        Task { await self.relocate(channels, from: node) }
    }

    private func relocate(_ channels: [String], from node: Node) async {
        var backoff = Duration.milliseconds(50)
        var remaining = channels
        while !remaining.isEmpty {
            let map: ClusterSlotMap
            do {
                map = try await router.refreshMap()
            } catch {
                if error.code == .clientClosed { return }
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(1))
                continue
            }
            remaining = state.withLock { state -> [String] in
                guard !state.closed, let old = state.nodes[node] else { return [] }
                var unplaced: [String] = []
                for channel in remaining where state.channelNodes[channel] == node {
                    // Still no owner (CLUSTERDOWN): leave it here and look again.
                    guard let target = map.primary(forSlot: HashSlot.of(channel)) else {
                        unplaced.append(channel)
                        continue
                    }
                    guard let subscriber = try? subscriber(state: &state, node: target) else {
                        unplaced.append(channel)
                        continue
                    }
                    // Released and adopted under this lock, with the map: a subscription leaving meanwhile finds
                    // its channel where it is.
                    let registrations = old.driver.release(channels: [channel])
                    subscriber.driver.adopt(registrations)
                    state.channelNodes[channel] = registrations.isEmpty ? nil : target
                    old.loop.wake()
                    subscriber.loop.wake()
                }
                return unplaced
            }
            if !remaining.isEmpty {
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(1))
            }
        }
    }
}
