/// A pub/sub connection shared by any number of subscriptions in this process.
///
/// Channels are reference-counted: the first subscription to a channel sends `SUBSCRIBE`, the last one to leave
/// sends `UNSUBSCRIBE`, and the server sees each channel once however many tasks listen. Subscribing and
/// unsubscribing happen while the connection waits for messages (its I/O thread polls the socket and a wake-up
/// fd), so adding a channel never waits for a read timeout.
///
/// When the connection drops (server restart, `CLIENT KILL TYPE pubsub`, a missed keepalive PING), the subscriber
/// reconnects with backoff, resubscribes every channel, and delivers ``RedisSubscriptionEvent/gap`` to the
/// subscriptions on it.
///
/// With a ``RedisConfiguration/Endpoint/cluster(_:)`` configuration it speaks sharded pub/sub (`SSUBSCRIBE`, Redis 7):
/// each channel on the primary that serves its slot, one connection per primary, and when a slot moves or its shard
/// fails over the channel is subscribed on the new owner and its subscriptions get a gap. Publish to such channels
/// with `SPUBLISH`.
public final class RedisSubscriber: Sendable {
    /// How many undelivered events one subscription buffers.
    public static let bufferLimit = 4096

    private enum Backend {
        case node(SubscriberDriver, IOLoop)
        case cluster(ClusterSubscriber)
    }
    private let backend: Backend

    /// The single connection's driver (`nil` for a cluster).
    var driver: SubscriberDriver? {
        if case .node(let driver, _) = backend { return driver }
        return nil
    }

    /// The single connection's I/O loop (`nil` for a cluster).
    var loop: IOLoop? {
        if case .node(_, let loop) = backend { return loop }
        return nil
    }

    /// Creates a subscriber; it connects when the first channel is subscribed.
    ///
    /// - Parameters:
    ///   - configuration: the server to connect to; its command timeout also bounds the keepalive `PING`.
    ///   - name: the name of the connection's thread.
    ///   - pingInterval: how long the connection may stay silent before a keepalive `PING`; a PING not answered
    ///     within the command timeout closes the connection and triggers a reconnect.
    public convenience init(
        configuration: RedisConfiguration,
        name: String = "redis-sub",
        pingInterval: Duration = .seconds(2)
    )
        throws(RedisError)
    {
        try self.init(configuration: configuration, name: name, pingInterval: pingInterval, connectTo: .server)
    }

    /// A subscriber to `target`: the configured server, or (to watch a Sentinel setup) any of its sentinels.
    /// `mode` and `onMoved` as for ``SubscriberDriver/init(pingInterval:commandTimeout:mode:onMoved:)``: a sharded
    /// subscriber is one cluster node's, and its channels must be served by that node.
    init(
        configuration: RedisConfiguration,
        name: String,
        pingInterval: Duration = .seconds(2),
        connectTo target: IOLoop.Target,
        mode: SubscriberMode = .classic,
        onMoved: (@Sendable ([String]) -> Void)? = nil
    )
        throws(RedisError)
    {
        try configuration.validate()
        guard pingInterval > .zero else { throw RedisError(.invalidConfiguration, "pingInterval must be positive") }
        if let cluster = configuration.cluster, target == .server {
            backend = .cluster(
                ClusterSubscriber(
                    configuration: configuration,
                    cluster: cluster,
                    name: name,
                    pingInterval: pingInterval
                )
            )
            return
        }
        let driver = SubscriberDriver(
            pingInterval: pingInterval,
            commandTimeout: configuration.commandTimeout,
            mode: mode,
            onMoved: onMoved
        )
        let loop = try IOLoop(configuration: configuration, name: name, target: target)
        try loop.start(driver: driver)
        backend = .node(driver, loop)
    }

    deinit { close() }

    /// Closes the connection (every node's, on a cluster); every subscription's sequence ends and later subscribes
    /// fail.
    public func close() {
        switch backend {
        case .node(_, let loop): loop.stop()
        case .cluster(let cluster): cluster.close()
        }
    }

    /// Whether the server has confirmed, on the current connection, every channel that a subscription wants (also
    /// `true` while no subscription wants any): false from a lost connection until every channel is subscribed
    /// again. Useful for readiness probes.
    public var isSubscribedToAll: Bool {
        switch backend {
        case .node(let driver, _): driver.isSubscribedToAll
        case .cluster(let cluster): cluster.isSubscribedToAll
        }
    }

    /// Subscribes to `channels`, waits until the server has confirmed every one of them, then runs `body` with the
    /// subscription's events. Leaving `body` unsubscribes (channels other subscriptions still use stay).
    ///
    /// Because the confirmation is awaited first, anything published after this method calls `body` is delivered:
    /// subscribe, then re-check state, and no wake-up is lost.
    public func subscribe<Value>(
        to channels: [String],
        isolation: isolated (any Actor)? = #isolation,
        _ body: (RedisSubscription) async throws -> Value
    ) async throws -> Value {
        let channels = Array(Set(channels))
        guard !channels.isEmpty else { throw RedisError(.invalidConfiguration, "subscribe needs at least one channel") }
        let (stream, sink) = SubscriptionSink.makeStream(limit: Self.bufferLimit)
        let subscription = RedisSubscription(channels: channels, stream: stream)
        switch backend {
        case .cluster(let cluster):
            let id = try await cluster.register(channels: channels, sink: sink)
            defer {
                cluster.unregister(id: id)
                sink.finish()
            }
            return try await body(subscription)
        case .node(let driver, let loop):
            let id = try driver.register(channels: channels, sink: sink)
            loop.wake()
            defer {
                driver.unregister(id: id, channels: channels)
                sink.finish()
                loop.wake()
            }
            try await driver.awaitConfirmation(id: id, channels: channels)
            return try await body(subscription)
        }
    }
}
