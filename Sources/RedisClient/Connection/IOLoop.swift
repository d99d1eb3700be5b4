import CHiredis
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What an ``IOLoop`` does with its connection: a command connection or a subscriber.
///
/// Every method is called on the loop's thread only.
protocol IOLoopDriver: AnyObject {
    /// New work was signalled (``IOLoop/wake()``): take it and write it with ``IOLoop/send(_:)``.
    func wakeUp(_ loop: IOLoop)
    /// A reply or push message arrived.
    func received(_ value: RedisValue, _ loop: IOLoop)
    /// The connection was lost or closed; `error` says why.
    func connectionLost(_ error: RedisError, _ loop: IOLoop)
    /// The next instant at which ``timerFired(_:_:)`` must run, if any.
    func nextDeadline() -> ContinuousClock.Instant?
    /// A deadline given by ``nextDeadline()`` passed.
    func timerFired(_ now: ContinuousClock.Instant, _ loop: IOLoop)
    /// The loop is stopping: fail whatever still waits.
    func stopped()
}

/// One connection's own thread: connect and handshake (bounded by the connect timeout), then a `poll` loop over the
/// socket and an eventfd that other threads use to hand it work.
///
/// This is how the client keeps socket waits and hiredis off Swift's cooperative thread pool: the wire is only ever
/// used from this thread, and async callers only enqueue work and await a continuation.
///
/// `@unchecked Sendable`: `wakeFD`, `configuration`, `target` and `name` are immutable; `isStopped` is atomic and
/// `movedTo` a mutex; `wire`, `node`, `discovery` and `driver` are touched only on the loop's own thread (the driver
/// is handed in before the thread starts).
final class IOLoop: @unchecked Sendable {
    /// What a loop connects to.
    enum Target {
        /// The configured server: the endpoint itself, or for ``RedisConfiguration/Endpoint/sentinel(_:)`` the
        /// primary the sentinels name.
        case server
        /// Any of the configured sentinels (to watch them).
        case sentinels
    }

    let configuration: RedisConfiguration
    private let target: Target
    private let wakeFD: Int32
    private let isStopped = Atomic<Bool>(false)
    private var wire: RedisWire?
    private var driver: (any IOLoopDriver)?
    private let name: String
    /// Sentinel discovery, for a Sentinel configuration.
    private var discovery: SentinelDiscovery?
    /// The primary this loop is connected to, when it was found through Sentinel.
    private var node: RedisConfiguration.Sentinel.Node?
    /// Where the sentinels said the primary moved, not yet acted on.
    private let movedTo = Mutex<RedisConfiguration.Sentinel.Node?>(nil)
    /// Where the sentinels last said the primary moved: tried first at the next connect, before asking a sentinel that
    /// may not know yet (and name the old primary, which may still say it is one).
    private var primaryHint: RedisConfiguration.Sentinel.Node?

    init(configuration: RedisConfiguration, name: String, target: Target = .server) throws(RedisError) {
        let fd = chiredis_eventfd()
        guard fd >= 0 else { throw RedisError(.io, "cannot create an eventfd (errno \(errno))") }
        self.configuration = configuration
        self.target = target
        self.wakeFD = fd
        self.name = name
        discovery = configuration.sentinel.map { SentinelDiscovery(configuration: configuration, sentinel: $0) }
    }

    /// Whether this loop follows a primary through Sentinel.
    var followsSentinelPrimary: Bool { configuration.sentinel != nil && target == .server }

    deinit { close(wakeFD) }

    /// Starts the thread with its driver. Called once.
    func start(driver: any IOLoopDriver) throws(RedisError) {
        self.driver = driver
        guard Thread.detach(name: name, { [self] in run() }) else {
            self.driver = nil
            throw RedisError(.io, "cannot start the connection's thread")
        }
        if followsSentinelPrimary { SentinelWatcher.watch(self, configuration: configuration) }
    }

    /// Tells the loop that Sentinel moved the primary to `node` (`+switch-master`): a connection to another node is
    /// closed, so the next command or resubscription finds the new primary. Callable from any thread.
    func primaryMoved(to node: RedisConfiguration.Sentinel.Node) {
        movedTo.withLock { $0 = node }
        wake()
    }

    /// Wakes the loop so the driver's ``IOLoopDriver/wakeUp(_:)`` runs. Callable from any thread.
    func wake() {
        eventfd_write(wakeFD, 1)
    }

    /// Stops the loop; the driver's ``IOLoopDriver/stopped()`` runs on the loop thread, then the socket closes.
    func stop() {
        isStopped.store(true, ordering: .releasing)
        wake()
    }

    // MARK: - Loop-thread API for drivers

    /// Whether a connection is up.
    var isConnected: Bool { wire != nil }

    /// Connects if not connected (on this thread, bounded by the connect timeout).
    func connect() throws(RedisError) {
        if wire != nil { return }
        // Loaded on every connect (a reconnect is rare and the files are small): certificates rotated on disk are
        // used by the next reconnect instead of failing it once the old ones expire.
        let tls = try configuration.tls.map { settings throws(RedisError) in try TLSClientContext(settings) }
        guard var discovery else {
            wire = try RedisWire(configuration: configuration, tls: tls)
            return
        }
        defer { self.discovery = discovery }
        switch target {
        case .server:
            (wire, node) = try discovery.connectToPrimary(tls: tls, hint: primaryHint)
            primaryHint = nil
        case .sentinels:
            wire = try discovery.connectToSentinel(tls: tls)
        }
    }

    /// Closes the connection when it is to a node that is no longer the primary (a `READONLY` or `LOADING` reply),
    /// so the next command finds the primary again. Does nothing without Sentinel: the same address would be
    /// connected to again.
    func leaveStalePrimary(_ reply: String) {
        guard followsSentinelPrimary, wire != nil else { return }
        disconnect(
            RedisError(
                .connectionClosed,
                "\(node?.description ?? "the node") answered \(reply.prefix { $0 != " " }): finding the primary again"
            )
        )
    }

    /// Buffers a command for writing; the loop writes it before it polls again.
    func send(_ command: RedisCommand) throws(RedisError) {
        guard let wire else { throw RedisError(.connectionClosed, "not connected") }
        try wire.append(command)
    }

    /// Reads what the socket already holds (replies, or the server's close) without waiting.
    ///
    /// Drivers call this before writing new commands on an open connection: the server may have closed it since the
    /// loop last polled (while the previous reply was being handled, say), and commands written to the dead socket
    /// would fail although a new connection would serve them.
    func readPending() {
        guard let wire else { return }
        if !wire.hasBufferedInput {
            var socket = pollfd(fd: wire.fileDescriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&socket, 1, 0) > 0, socket.revents != 0 else { return }
        }
        readAvailable(wire)
    }

    /// Reads what the wire has and hands every complete reply to the driver; a failure closes the connection.
    private func readAvailable(_ wire: RedisWire) {
        do {
            try wire.read()
            while let value = try wire.nextReply() {
                driver?.received(value, self)
                if self.wire !== wire { break }
            }
        } catch {
            disconnect(error)
        }
    }

    /// Closes the connection and tells the driver why.
    func disconnect(_ error: RedisError) {
        guard wire != nil else { return }
        wire = nil
        node = nil
        driver?.connectionLost(error, self)
    }

    // MARK: - The loop

    private func run() {
        guard let driver else { return }
        var fds = [pollfd](repeating: pollfd(), count: 2)
        while !isStopped.load(ordering: .acquiring) {
            fds[0] = pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)
            var count = 1
            if let wire {
                fds[1] = pollfd(fd: wire.fileDescriptor, events: wire.pollEvents, revents: 0)
                count = 2
            }
            var timeout: Int32 = -1
            if let deadline = driver.nextDeadline() {
                let remaining = ContinuousClock.now.duration(to: deadline)
                timeout = remaining <= .zero ? 0 : Int32(clamping: remaining.milliseconds)
            }
            // Bytes the transport already holds are invisible to poll: do not sleep on them.
            let buffered = wire?.hasBufferedInput ?? false
            if buffered { timeout = 0 }
            let ready = poll(&fds, nfds_t(count), timeout)
            if ready < 0 && errno != EINTR { break }
            if isStopped.load(ordering: .acquiring) { break }
            if ready > 0 && fds[0].revents != 0 {
                var counter: eventfd_t = 0
                eventfd_read(wakeFD, &counter)
            }
            if let moved = movedTo.withLock({ moved in
                defer { moved = nil }
                return moved
            }), node != moved {
                primaryHint = moved
                disconnect(RedisError(.connectionClosed, "Sentinel moved the primary to \(moved.description)"))
            }
            // Let the driver take new work on every turn: cheap, and a wake-up is never lost to a race.
            driver.wakeUp(self)
            if let wire, count == 2, fds[1].revents != 0 || buffered {
                readAvailable(wire)
            }
            if let wire, wire.hasPendingOutput {
                do { try wire.flush() } catch { disconnect(error) }
            }
            if let deadline = driver.nextDeadline(), deadline <= .now {
                driver.timerFired(.now, self)
            }
        }
        driver.stopped()
        wire = nil
        self.driver = nil
        if followsSentinelPrimary { SentinelWatcher.unwatch(self, configuration: configuration) }
    }
}

/// A detached POSIX thread running a closure, with SIGPIPE blocked so a write to a closed socket returns EPIPE
/// instead of killing the process (plain sockets write with `send(MSG_NOSIGNAL)`, but OpenSSL writes with
/// `write(2)`).
enum Thread {
    private final class Box {
        let body: () -> Void
        let name: String
        init(_ body: @escaping () -> Void, name: String) {
            self.body = body
            self.name = name
        }
    }

    static func detach(name: String, _ body: @escaping @Sendable () -> Void) -> Bool {
        let box = Unmanaged.passRetained(Box(body, name: name)).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(
            &thread,
            nil,
            { argument in
                guard let argument else { return nil }
                let box = Unmanaged<Box>.fromOpaque(argument).takeRetainedValue()
                var set = sigset_t()
                sigemptyset(&set)
                sigaddset(&set, SIGPIPE)
                pthread_sigmask(SIG_BLOCK, &set, nil)
                chiredis_set_thread_name(box.name)
                box.body()
                return nil
            },
            box
        )
        guard status == 0 else {
            Unmanaged<Box>.fromOpaque(box).release()
            return false
        }
        pthread_detach(thread)
        return true
    }
}
