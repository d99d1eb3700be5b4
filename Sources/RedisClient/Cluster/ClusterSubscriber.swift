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
        /// Channels a node let go of, per node whose relocation is under way (one at a time per node).
        var relocating: [Node: Set<String>] = [:]
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
            var moves = 0
            while true {
                let (driver, closed) = state.withLock { state in
                    (state.channelNodes[channel].flatMap { state.nodes[$0]?.driver }, state.closed)
                }
                if closed { throw RedisError(.clientClosed, "the subscriber was closed") }
                guard let driver else {
                    try await reregister(id: id, channel: channel)
                    continue
                }
                do {
                    try await driver.awaitConfirmation(id: id, channels: [channel])
                    break
                } catch let error as RedisError
                    where error.code == .clientClosed && !state.withLock({ $0.closed })
                {
                    // The node's subscriber was retired after it was looked up (the channel moved on, this
                    // registration with it): register again where the channel is now, and wait there.
                    try await reregister(id: id, channel: channel)
                } catch let error as RedisError where error.code == .moved {
                    // The node let the channel go before confirming it, and took this subscription's registration
                    // with it: register again where the cluster serves the channel now (after a pause, so that a
                    // relocation under way can move the channel's other subscriptions first).
                    moves += 1
                    try? await Task.sleep(for: .milliseconds(min(50 * moves, 1000)))
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

    /// `node` stopped serving `channels` (its driver says so, on its I/O thread): fetch the map and move them, in one
    /// relocation per node at a time that also takes the channels reported meanwhile.
    private func moved(_ channels: [String], from node: Node) {
        let start = state.withLock { state -> Bool in
            guard !state.closed else { return false }
            if state.relocating[node] != nil {
                state.relocating[node]?.formUnion(channels)
                return false
            }
            state.relocating[node] = Set(channels)
            return true
        }
        if start { Task { await self.relocate(from: node) } }
    }

    private func relocate(from node: Node) async {
        var backoff = Duration.milliseconds(50)
        var rounds = 0
        while true {
            let map: ClusterSlotMap
            do {
                map = try await router.refreshMap()
            } catch {
                if error.code == .clientClosed { return }
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(1))
                continue
            }
            let (done, retired) = state.withLock { state -> (Bool, IOLoop?) in
                place(state: &state, from: node, map: map, trustSameOwner: rounds >= 3)
            }
            retired?.stop()
            if done { return }
            rounds += 1
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(1))
        }
    }

    /// Moves the channels `node` let go of to their owners in `map`; returns whether none is left, and the loop of
    /// `node` when it serves nothing any more and is no primary (to stop). Called with the lock held.
    ///
    /// A map that still names `node` may not have caught up with the cluster (or the node is down and not yet
    /// replaced): the channels wait for a later map, unless `trustSameOwner`, when they are subscribed on `node`
    /// again.
    private func place(
        state: inout State,
        from node: Node,
        map: ClusterSlotMap,
        trustSameOwner: Bool
    ) -> (done: Bool, retired: IOLoop?) {
        guard !state.closed, let old = state.nodes[node] else {
            state.relocating[node] = nil
            return (true, nil)
        }
        var pending = state.relocating[node] ?? []
        for channel in pending {
            guard state.channelNodes[channel] == node else {
                pending.remove(channel)
                continue
            }
            // No owner (CLUSTERDOWN), or the map may be behind: look again later.
            guard let target = Self.owner(of: channel, in: map), target != node || trustSameOwner,
                let subscriber = try? subscriber(state: &state, node: target)
            else { continue }
            // Released and adopted under this lock, with the map: a subscription leaving meanwhile finds its
            // channel where it is.
            let registrations = old.driver.release(channels: [channel])
            subscriber.driver.adopt(registrations)
            state.channelNodes[channel] = registrations.isEmpty ? nil : target
            old.loop.wake()
            subscriber.loop.wake()
            pending.remove(channel)
        }
        guard pending.isEmpty else {
            state.relocating[node] = pending
            return (false, nil)
        }
        state.relocating[node] = nil
        // A node that serves no channel and is no primary (demoted, removed) keeps no thread.
        guard old.driver.isIdle, !map.primaries.contains(node) else { return (true, nil) }
        state.nodes[node] = nil
        return (true, old.loop)
    }
}
