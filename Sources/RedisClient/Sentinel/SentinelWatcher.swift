import Synchronization

/// Listens to the sentinels' announcements of a new primary for one Sentinel setup (`+promoted-slave` when a replica
/// is promoted, `+switch-master` when the failover is done) and tells every connection to the primary, so they
/// reconnect at once instead of waiting for a timeout or a `READONLY` reply.
///
/// `+promoted-slave` matters: between the promotion and `+switch-master` the sentinels already name the new primary,
/// while the old one, if it was only paused, may come back and still accept writes (and replicas that have not yet
/// been moved acknowledge them) until it is demoted and they are lost.
///
/// It listens to every sentinel (one subscriber connection each): `+promoted-slave` comes only from the sentinel
/// that led the failover, and the others announce `+switch-master` only once they hear of it. One watcher serves
/// every connection of the process with the same settings (``watch(_:configuration:)``), and it closes when its last
/// connection goes away.
final class SentinelWatcher: Sendable {
    typealias Node = RedisConfiguration.Sentinel.Node

    private struct Key: Hashable {
        let sentinel: RedisConfiguration.Sentinel
        let tls: RedisConfiguration.TLS?
    }
    private static let watchers = Mutex<[Key: SentinelWatcher]>([:])

    private let key: Key
    private let subscribers: [RedisSubscriber]
    private let loops = Mutex<[ObjectIdentifier: WeakLoop]>([:])
    private let listeners = Mutex<[Task<Void, Never>]>([])

    private struct WeakLoop {
        weak var loop: IOLoop?
    }

    private init(key: Key, configuration: RedisConfiguration) throws(RedisError) {
        self.key = key
        var subscribers: [RedisSubscriber] = []
        for node in key.sentinel.nodes {
            var one = key.sentinel
            one.nodes = [node]
            var watching = configuration
            watching.endpoint = .sentinel(one)
            subscribers.append(
                try RedisSubscriber(configuration: watching, name: "redis-sentinel", connectTo: .sentinels)
            )
        }
        self.subscribers = subscribers
    }

    /// Registers `loop` (a connection to the primary of `configuration`'s Sentinel setup) for `+switch-master`.
    static func watch(_ loop: IOLoop, configuration: RedisConfiguration) {
        guard let sentinel = configuration.sentinel else { return }
        let key = Key(sentinel: sentinel, tls: configuration.tls)
        // Registered under the registry's lock, so that the last connection of a watcher cannot close it in between.
        // Without a watcher (no thread could be started) connections still follow a failover, later: on READONLY,
        // a lost connection or a command timeout.
        watchers.withLock { watchers in
            var watcher = watchers[key]
            if watcher == nil, let created = try? SentinelWatcher(key: key, configuration: configuration) {
                watchers[key] = created
                created.start()
                watcher = created
            }
            watcher?.loops.withLock { $0[ObjectIdentifier(loop)] = WeakLoop(loop: loop) }
        }
    }

    /// Unregisters `loop`; the last one closes the watcher.
    static func unwatch(_ loop: IOLoop, configuration: RedisConfiguration) {
        guard let sentinel = configuration.sentinel else { return }
        let key = Key(sentinel: sentinel, tls: configuration.tls)
        let closing: SentinelWatcher? = watchers.withLock { watchers in
            guard let watcher = watchers[key] else { return nil }
            let empty = watcher.loops.withLock { loops in
                loops[ObjectIdentifier(loop)] = nil
                return loops.values.allSatisfy { $0.loop == nil }
            }
            guard empty else { return nil }
            watchers[key] = nil
            return watcher
        }
        closing?.close()
    }

    private func start() {
        listeners.withLock { tasks in tasks = subscribers.map { listen(to: $0) } }
    }

    private func listen(to subscriber: RedisSubscriber) -> Task<Void, Never> {
        let name = key.sentinel.primaryName
        return Task { [weak self] in
            while !Task.isCancelled {
                do {
                    try await subscriber.subscribe(to: ["+switch-master", "+promoted-slave"]) { subscription in
                        for await event in subscription {
                            guard case .message(let channel, let payload) = event,
                                let node = SentinelAnnouncement.newPrimary(
                                    announcedOn: channel,
                                    in: payload,
                                    named: name
                                )
                            else { continue }
                            self?.primaryMoved(to: node)
                        }
                    }
                    return  // The subscriber was closed.
                } catch {
                    // The sentinel does not answer now: the subscriber's own reconnect handles later losses; try
                    // again soon.
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        }
    }

    private func close() {
        for task in listeners.withLock({ $0 }) { task.cancel() }
        for subscriber in subscribers { subscriber.close() }
    }

    private func primaryMoved(to node: Node) {
        let targets = loops.withLock { $0.values.compactMap(\.loop) }
        for loop in targets { loop.primaryMoved(to: node) }
    }
}
