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
/// `@unchecked Sendable`: `wakeFD`, `configuration` and `name` are immutable; `isStopped` is atomic; `wire` and
/// `driver` are touched only on the loop's own thread (the driver is handed in before the thread starts).
final class IOLoop: @unchecked Sendable {
    let configuration: RedisConfiguration
    private let wakeFD: Int32
    private let isStopped = Atomic<Bool>(false)
    private var wire: RedisWire?
    private var driver: (any IOLoopDriver)?
    private let name: String

    init(configuration: RedisConfiguration, name: String) throws(RedisError) {
        let fd = chiredis_eventfd()
        guard fd >= 0 else { throw RedisError(.io, "cannot create an eventfd (errno \(errno))") }
        self.configuration = configuration
        self.wakeFD = fd
        self.name = name
    }

    deinit { close(wakeFD) }

    /// Starts the thread with its driver. Called once.
    func start(driver: any IOLoopDriver) throws(RedisError) {
        self.driver = driver
        guard Thread.detach(name: name, { [self] in run() }) else {
            self.driver = nil
            throw RedisError(.io, "cannot start the connection's thread")
        }
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
        wire = try RedisWire(configuration: configuration, tls: tls)
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
