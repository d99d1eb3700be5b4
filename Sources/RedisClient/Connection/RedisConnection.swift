/// A command connection to Redis, safe to share between any number of tasks.
///
/// Each connection owns one socket and one I/O thread of its own, the only thread that calls hiredis: async callers
/// never block a thread of the cooperative pool. Commands from callers that arrive together are written in one batch and their
/// replies read in one go, so one connection pipelines automatically and a pool buys nothing for short commands:
/// Redis executes commands one at a time anyway. The rule is therefore **one connection per purpose**: one shared
/// connection for commands, one ``RedisSubscriber`` for pub/sub. Never send blocking commands (`BLPOP`, `WAIT`,
/// `CLIENT PAUSE` victims aside) on a shared connection: everything queued behind them waits.
///
/// A broken connection is noticed as soon as the socket reports it (the loop always polls for reads), and the next
/// command reconnects. Commands in flight when it breaks fail with a connection error and are not retried: they
/// may or may not have run.
public final class RedisConnection: Sendable {
    /// The configuration this connection uses.
    public let configuration: RedisConfiguration
    /// The I/O thread of a single server's connection; `nil` for a cluster.
    private let loop: IOLoop?
    private let queue = CommandQueue()
    /// For a cluster, the router and its connections to each primary.
    let router: ClusterRouter?

    /// Creates a connection. The socket is opened by the first command, so this does no I/O and cannot hang.
    ///
    /// For a ``RedisConfiguration/Endpoint/cluster(_:)`` configuration the connection is a cluster client: the slot
    /// map is fetched by the first command, and every command goes to the primary of its key's slot over a
    /// connection of its own per primary (see ``send(_:)-(RedisCommand)`` for the rules).
    public init(configuration: RedisConfiguration, name: String = "redis-cmd") throws(RedisError) {
        try configuration.validate()
        self.configuration = configuration
        if let cluster = configuration.cluster {
            loop = nil
            router = ClusterRouter(configuration: configuration, cluster: cluster, name: name)
        } else {
            let loop = try IOLoop(configuration: configuration, name: name)
            try loop.start(driver: CommandDriver(queue: queue, commandTimeout: configuration.commandTimeout))
            self.loop = loop
            router = nil
        }
    }

    /// Creates a connection from a URL such as `redis://127.0.0.1:6379/0`.
    public convenience init(url: String) throws(RedisError) {
        try self.init(configuration: RedisConfiguration(url: url))
    }

    deinit { close() }

    /// Closes the socket and stops the I/O thread (every node's, for a cluster); pending and later commands fail with
    /// ``RedisError/Code/clientClosed``.
    public func close() {
        loop?.stop()
        router?.close()
    }

    /// Sends one command and returns its reply; an error reply throws ``RedisError/Code/server``.
    ///
    /// On a cluster, the command goes to the primary serving its first key's slot (`EVALSHA` and `EVAL`: their first
    /// key), a command without keys to any primary; `MOVED`, `ASK`, `TRYAGAIN`, `LOADING` and `CLUSTERDOWN` replies are
    /// followed or retried within the command timeout.
    @discardableResult
    public func send(_ command: RedisCommand) async throws(RedisError) -> RedisValue {
        let replies = try await execute([command])
        return try replies[0].get()
    }

    /// Sends one command given as arguments, e.g. `send("SET", "key", "value")`.
    @discardableResult
    public func send(_ arguments: RedisArgument...) async throws(RedisError) -> RedisValue {
        try await send(RedisCommand(arguments))
    }

    /// Sends several commands in one write and reads their replies in one go: one round trip.
    ///
    /// Each reply is a `Result`, so a server error in one command does not hide the others'. A connection failure
    /// throws.
    ///
    /// On a cluster, commands without keys go with the keyed command before them (so `WAIT` after a write reaches
    /// that write's primary); commands for different primaries are sent to each concurrently.
    public func pipeline(_ commands: [RedisCommand]) async throws(RedisError) -> [Result<RedisValue, RedisError>] {
        guard !commands.isEmpty else { return [] }
        return try await execute(commands)
    }

    private func execute(_ commands: [RedisCommand]) async throws(RedisError) -> PendingRequest.Replies {
        // hiredis encodes a command without arguments as "*0\r\n", which the server skips without a reply: the
        // replies of every later command would go to the caller before it. Refuse it before anything is sent.
        guard !commands.contains(where: { $0.count == 0 }) else {
            throw RedisError(.invalidConfiguration, "a command needs at least its name; nothing was sent")
        }
        if let router { return try await router.execute(commands) }
        guard let loop else { throw RedisError(.clientClosed, "the connection was closed") }
        let request = PendingRequest(commands)
        do {
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { continuation in
                    request.install(continuation)
                    switch queue.enqueue(request) {
                    case .some(true): loop.wake()
                    case .some(false): break
                    case .none: request.finish(.failure(RedisError(.clientClosed, "the connection was closed")))
                    }
                }
            } onCancel: {
                request.finish(.failure(RedisError(.cancelled, "the command was cancelled")))
            }
        } catch let error as RedisError {
            throw error
        } catch {
            throw RedisError(.io, "\(error)")
        }
    }
}
