import CoreMetrics
import Logging
import RedisClient
import Synchronization
import Tracing

/// Shares one authenticated session (access token + rotating refresh token) between every worker of a fleet and
/// refreshes it exactly once per expiry, fleet-wide.
///
/// ```swift
/// let refresher = try await RedisRefresher(
///     configuration: .init(redisURL: "redis://127.0.0.1:6379", session: "crm-api"),
///     refresh: { current in try await idp.refresh(using: current.refreshToken) })
/// let creds = try await refresher.credentials()      // from memory when fresh
/// // after a 401 with `creds`:
/// let fresh = try await refresher.refreshAccessTokenOrReLogin(after: creds, timeout: .seconds(100))
/// ```
///
/// The protocol (lock, fenced write, pub/sub outcome with a polling fallback) is described in the package README,
/// under "How it works".
public final class RedisRefresher: Sendable {
    /// The user's refresh function: given the current credentials, returns new tokens from the identity provider,
    /// or throws (``RefreshFailure/rejected(_:)`` when the refresh token was refused).
    public typealias RefreshFunction = @Sendable (Credentials) async throws -> RefreshedTokens

    /// The configuration.
    public let configuration: RefresherConfiguration
    /// The validated session name.
    public let session: SessionName
    /// The session's Redis keys and channel.
    public let keys: SessionKeys
    /// The connections in use (shared or owned).
    public let connections: RefresherConnections
    /// Every script call and reply decoding of this session.
    let store: SessionStore

    let refresh: RefreshFunction
    let logger: Logger
    let metrics: RefresherMetrics
    /// The tracer given at construction; `nil`: the one active when a span starts (``RefresherSpanNames``).
    let tracer: (any Tracer)?
    let features = Mutex(FeatureState())
    /// When credentials are due for a refresh ahead of expiry; `nil` without ``RefresherConfiguration/refreshAhead``.
    let refreshAheadSchedule: RefreshAheadSchedule?
    private let ownsConnections: Bool
    /// The id of the cache's handler in the event hub (known only after `self` exists).
    private let cacheHandlerID = Mutex<UInt64>(0)
    /// The id of this refresher's hook in ``RefresherConnections`` (known only after `self` exists).
    private let shutdownHookID = Mutex<UInt64>(0)
    /// Whether this refresher still holds its share of the event hub's listener (given back once, on shutdown or in
    /// `deinit`).
    private let isListening = Atomic<Bool>(false)

    struct State {
        var cache = CredentialsCache()
        var load: Task<Credentials, any Error>?
        /// The in-process refreshes, by the generation and lineage they refresh after.
        var flights: [FlightKey: Flight] = [:]
        /// This process's lock acquisitions that shutdown must know about (see ``HolderPhase``).
        var holders: [String: HolderPhase] = [:]
        var isShutDown = false
    }

    struct FlightKey: Hashable {
        var generation: Int64
        var lineage: String?
    }
    let state = Mutex(State())

    /// Creates a refresher for one session, validating the configuration and checking that Redis answers (and that
    /// the scripts can be loaded: a wrong password or missing ACL permission fails here, not at the first 401). The
    /// scripts are sent once per ``RefresherConnections``; later refreshers sharing them send a `PING`.
    ///
    /// - Parameters:
    ///   - configuration: the session, the Redis server and the protocol's timings (validated here).
    ///   - connections: connections to share with other refreshers; `nil` creates (and owns) a pair for this one.
    ///   - logger: receives info/debug lines with session, owner, generation and outcome; never a token.
    ///   - metricsFactory: where the counters and timers of ``RefresherMetricNames`` are created (once, here);
    ///     `nil` uses `MetricsSystem.factory`.
    ///   - tracer: where the spans of ``RefresherSpanNames`` go; `nil` uses the tracer active when a refresh or a
    ///     wait starts (`InstrumentationSystem.tracer`, or one scoped with `withTracer`): no spans until the
    ///     application bootstraps one.
    ///   - refresh: the refresh function, called by at most one worker of the fleet per expiry.
    public init(
        configuration: RefresherConfiguration,
        connections: RefresherConnections? = nil,
        logger: Logger = Logger(label: "redis-refresher"),
        metricsFactory: (any MetricsFactory)? = nil,
        tracer: (any Tracer)? = nil,
        refresh: @escaping RefreshFunction
    ) async throws(RefresherError) {
        try configuration.validate()
        let session = try SessionName(configuration.session)
        self.configuration = configuration
        self.session = session
        self.keys = SessionKeys(prefix: configuration.keyPrefix, session: session)
        // Marked, so that helpers such as an authorized HTTP client never start a refresh from inside one.
        self.refresh = { current in
            try await RedisRefresher.$isRunningRefreshFunction.withValue(true) { try await refresh(current) }
        }
        self.metrics = RefresherMetrics(session: session, factory: metricsFactory ?? MetricsSystem.factory)
        self.tracer = tracer
        self.refreshAheadSchedule = configuration.refreshAhead.map {
            RefreshAheadSchedule(window: $0, spread: configuration.refreshAheadSpread, session: session.rawValue)
        }
        if let connections {
            try configuration.validate(commandTimeout: connections.commands.configuration.commandTimeout)
            self.connections = connections
            ownsConnections = false
        } else {
            self.connections = try RefresherConnections(
                url: configuration.redisURL,
                commandTimeout: configuration.ownCommandTimeout,
                logger: logger
            )
            ownsConnections = true
        }
        let acknowledgement =
            configuration.replicaAcknowledgement ?? .automatic(for: self.connections.commands.configuration)
        self.store = SessionStore(
            connection: self.connections.commands,
            keys: keys,
            acknowledgement: acknowledgement.isOn
                ? .init(connection: try self.connections.acknowledgedWrites(), setting: acknowledgement) : nil
        )
        var logger = logger
        logger[metadataKey: "session"] = "\(session.rawValue)"
        logger[metadataKey: "owner"] = "\(self.connections.ownerID)"
        self.logger = logger
        do {
            try await self.connections.prepare(ScriptSet.for(self.connections.commands).all)
        } catch {
            if ownsConnections {
                self.connections.commands.close()
                self.connections.subscriber.close()
            }
            throw RefresherError(redis: error)
        }
        // The cache follows the events channel: any newer generation (or a gap) makes the next read go to Redis.
        let handlerID = self.connections.hub.addHandler(channel: keys.events) { [weak self] event in
            self?.cacheHears(event)
        }
        cacheHandlerID.withLock { $0 = handlerID }
        self.connections.hub.listen(to: keys.events)
        isListening.store(true, ordering: .relaxed)
        let hookID = self.connections.addShutdownHook { [weak self] grace in await self?.shutdownSession(grace) }
        shutdownHookID.withLock { $0 = hookID }
        logger.debug("refresher ready", metadata: ["lock": "\(keys.lock)"])
    }

    /// Keeps the cache current: a newer generation (or a gap in the subscription) makes the next read go to Redis.
    private func cacheHears(_ event: RefresherEvent) {
        state.withLock { $0.cache.heard(event) }
    }

    deinit {
        finishEventStreams()
        connections.hub.removeHandler(cacheHandlerID.withLock { $0 }, channel: keys.events)
        stopListening()
        connections.removeShutdownHook(shutdownHookID.withLock { $0 })
        if ownsConnections {
            connections.hub.close()
            connections.subscriber.close()
            connections.commands.close()
        }
    }

    /// The current session: from memory when it is known to be current (no Redis round trip), otherwise read from
    /// Redis once for all concurrent callers. With ``RefresherConfiguration/refreshAhead`` set, credentials close to
    /// their expiry start a coordinated refresh in the background, and expired ones are refreshed first.
    ///
    /// - Throws: ``RefresherError/Code/noSession`` when nothing is stored yet (seed it with ``seedSession(_:)``).
    public func credentials() async throws(RefresherError) -> Credentials {
        // The hot path: a lock and a copy, no nested async call (which costs about a third of the throughput).
        let cached = state.withLock { $0.cache.fresh }
        let current: Credentials
        if let cached { current = cached } else { current = try await storedCredentials() }
        guard let refreshAheadSchedule else { return current }
        return try await refreshingAhead(current, schedule: refreshAheadSchedule)
    }

    /// The current session as stored (from memory when current), without refreshing ahead of expiry.
    func storedCredentials() async throws(RefresherError) -> Credentials {
        let (cached, task) = state.withLock { state -> (Credentials?, Task<Credentials, any Error>?) in
            if let cached = state.cache.fresh { return (cached, nil) }
            if state.isShutDown { return (nil, nil) }
            if let load = state.load { return (nil, load) }
            let load = Task { try await self.loadSession() }
            state.load = load
            return (nil, load)
        }
        if let cached { return cached }
        guard let task else { throw RefresherError(.shutdown, "the refresher was shut down") }
        do {
            return try await task.value
        } catch let error as RefresherError {
            throw error
        } catch {
            throw RefresherError(.cancelled, "cancelled")
        }
    }

    /// Reads the session from Redis and caches it; returns what the cache holds afterwards (a newer generation of
    /// the same lineage held here wins over an older read).
    private func loadSession() async throws(RefresherError) -> Credentials {
        defer { state.withLock { $0.load = nil } }
        // Mark the cache current *before* reading: an event that arrives during the read marks it stale again.
        state.withLock { $0.cache.beginLoad() }
        let loaded: Credentials?
        do {
            loaded = try await store.load()
        } catch {
            state.withLock { $0.cache.failLoad() }
            throw error
        }
        guard let loaded else {
            state.withLock { $0.cache.failLoad() }
            throw RefresherError(.noSession, "no session is stored at \(keys.sessionHash); seed one first")
        }
        return state.withLock { $0.cache.finishLoad(loaded) }
    }

    /// Caches credentials this process just learned from Redis, unless a newer generation of the same lineage is
    /// cached already; returns what the cache holds.
    @discardableResult
    func remember(_ credentials: Credentials) -> Credentials {
        state.withLock { state in
            state.cache.stored(credentials)
            guard let current = state.cache.current, current.lineage == credentials.lineage else { return credentials }
            return current.generation > credentials.generation ? current : credentials
        }
    }

    /// Fresh credentials after `stale` stopped working (a 401): refreshes the session unless another worker (or an
    /// earlier call) already did, and waits at most `timeout`.
    ///
    /// - If the stored generation is already newer than `stale.generation`, returns the stored session: no lock,
    ///   no refresh.
    /// - Otherwise joins this process's refresh of that generation, or starts one: one worker of the fleet takes
    ///   the lock and calls the refresh function, the others wait for its outcome (pub/sub, with a polling
    ///   fallback).
    ///
    /// Timing out or being cancelled affects this caller only: the refresh other callers wait on goes on.
    ///
    /// - Throws: ``RefresherError`` with ``RefresherError/Code/reloginRequired`` when the refresh token was
    ///   rejected, ``RefresherError/Code/refreshFailed`` when the refresh failed transiently,
    ///   ``RefresherError/Code/timeout`` when the deadline passed.
    public func refreshAccessTokenOrReLogin(
        after stale: Credentials,
        timeout: Duration? = nil
    ) async throws(RefresherError) -> Credentials {
        // The synchronous part decides everything it can; the awaiting part keeps only a flight and a timeout, so a
        // waiting caller's task stays small (10,000 waiting callers are a design point: a few more bytes in this
        // frame cost a whole slab of the task allocator, 1 KB per caller).
        let timeout = timeout ?? configuration.defaultTimeout
        let flight = try flight(after: stale, timeout: timeout)
        return try await flight.join(deadline: ContinuousClock.now.advanced(by: timeout), timeout: timeout)
    }

    /// The flight a caller after `stale` joins: a finished one with the cached session when it is current and
    /// supersedes `stale`, else this process's flight for `stale`'s generation and lineage.
    @inline(never)
    private func flight(after stale: Credentials, timeout: Duration) throws(RefresherError) -> Flight {
        if let current = try cachedCredentials(superseding: stale, timeout: timeout) {
            return Flight(finished: .success(current))
        }
        return try joinFlight(after: stale)
    }

    /// The cached session when it is current and supersedes `stale` (another lineage or a newer generation).
    ///
    /// Not inlined (nor is ``joinFlight(after:)``): the locals of an async function live in its task's frame, and
    /// 10,000 waiting callers are a design point.
    @inline(never)
    private func cachedCredentials(
        superseding stale: Credentials,
        timeout: Duration
    ) throws(RefresherError)
        -> Credentials?
    {
        guard timeout > .zero else { throw RefresherError(.invalidConfiguration, "the timeout must be positive") }
        return state.withLock { $0.cache.fresh(supersedingGeneration: stale.generation, lineage: stale.lineage) }
    }

    /// This process's flight after `stale`'s generation and lineage, started if there is none.
    @inline(never)
    private func joinFlight(after stale: Credentials) throws(RefresherError) -> Flight {
        let key = FlightKey(generation: stale.generation, lineage: stale.lineage)
        let flight = state.withLock { state -> Flight? in
            if state.isShutDown { return nil }
            // A flight that already delivered its result (or lost its callers) may linger until its task's cleanup
            // runs; a caller that arrives meanwhile starts a new one instead of getting that old answer.
            if let flight = state.flights[key], flight.isOpen { return flight }
            let flight = Flight(
                generation: stale.generation,
                lineage: stale.lineage,
                onAbandon: { [weak self] flight in self?.forget(flight) },
                onTimeout: { [weak self] flight, timeout in
                    self?.noteTimeout(generation: flight.generation, timeout: timeout)
                }
            )
            state.flights[key] = flight
            flight.attach(Task { await self.run(flight) })
            return flight
        }
        guard let flight else { throw RefresherError(.shutdown, "the refresher was shut down") }
        return flight
    }

    private func noteTimeout(generation: Int64, timeout: Duration) {
        logger.info("caller timed out", metadata: ["generation": "\(generation)", "timeout": "\(timeout)"])
        metrics.timeouts.increment()
        countTimeout()
    }

    /// How many in-process refreshes are under way (for tests).
    package var activeFlightCount: Int { state.withLock { $0.flights.count } }

    /// Removes a flight from the registry (when it finishes or is abandoned).
    func forget(_ flight: Flight) {
        let key = FlightKey(generation: flight.generation, lineage: flight.lineage)
        state.withLock { state in
            if state.flights[key] === flight { state.flights[key] = nil }
        }
    }

    private func countTimeout() {
        let command = RedisCommand("HINCRBY", RedisArgument(keys.stats), "timeouts", 1)
        let connection = connections.commands
        Task { _ = try? await connection.send(command) }
    }

    /// Stores a session when none exists yet (first writer wins) and returns what is stored, with whether this call
    /// stored it. A stored session starts a new lineage.
    public func seedSession(_ tokens: RefreshedTokens) async throws(RefresherError) -> (Credentials, seeded: Bool) {
        let (_, wrote) = try await store.seed(tokens, by: connections.ownerID)
        markStale()
        return (try await credentials(), wrote)
    }

    /// Replaces the session after a fresh login: stores the tokens as the next generation of a new lineage, clears
    /// a rejected or unknown outcome, and tells the fleet (`replaced` event).
    @discardableResult
    public func replaceSession(_ tokens: RefreshedTokens) async throws(RefresherError) -> Credentials {
        _ = try await store.replace(tokens, by: connections.ownerID)
        markStale()
        return try await credentials()
    }

    func markStale() {
        state.withLock { $0.cache.markStale() }
    }

    /// Stops this refresher. A lock taken for a refresh that has not presented anything is released at once
    /// (owner-checked, publishing `released`); a refresh whose request may be in flight gets up to `gracePeriod`
    /// (default ``RefresherConfiguration/shutdownGracePeriod``) to finish and store its result, and if it is still
    /// running then, its lock is left to expire (never released: the fleet must not present the same refresh token
    /// while the answer may still come). Waiting callers fail with ``RefresherError/Code/shutdown``. Closes the
    /// connections when this refresher owns them.
    public func shutdown(gracePeriod: Duration? = nil) async {
        let gracePeriod = gracePeriod ?? configuration.shutdownGracePeriod
        await shutdownSession(gracePeriod)
        if ownsConnections { await connections.shutdown(gracePeriod: gracePeriod) }
    }

    private func shutdownSession(_ gracePeriod: Duration) async {
        let alreadyDown = state.withLock { state in
            defer { state.isShutDown = true }
            return state.isShutDown
        }
        if alreadyDown { return }
        let deadline = ContinuousClock.now.advanced(by: gracePeriod)
        while !state.withLock({ $0.holders.isEmpty }), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
        let remaining = state.withLock { $0.holders }
        for (acquisition, phase) in remaining {
            if phase == .presenting {
                metrics.locksLeftOnShutdown.increment()
                logger.warning(
                    "shutting down while a refresh request may be in flight: the lock is left to expire",
                    metadata: ["lock": "\(acquisition)"]
                )
            } else if phase == .keeping {
                logger.warning(
                    "shutting down before replicas acknowledged a new session; a failover now may lose it",
                    metadata: ["lock": "\(acquisition)"]
                )
            } else if (try? await store.withdraw(owner: acquisition, reason: "shutdown"))?.released == true {
                // A check whose answer was never handled took the lock, or replicas did not acknowledge it: nothing
                // was presented under it.
                logger.info("released the lock on shutdown", metadata: ["lock": "\(acquisition)"])
            }
        }
        let flights = state.withLock { state in
            defer { state.flights = [:] }
            return Array(state.flights.values)
        }
        for flight in flights { flight.finish(.failure(RefresherError(.shutdown, "the refresher was shut down"))) }
        connections.hub.removeHandler(cacheHandlerID.withLock { $0 }, channel: keys.events)
        stopListening()
        finishEventStreams()
    }

    /// Gives back this refresher's share of the events channel's listener: the channel is unsubscribed when no other
    /// refresher of the session in this process listens.
    private func stopListening() {
        guard isListening.exchange(false, ordering: .relaxed) else { return }
        connections.hub.stopListening(to: keys.events)
    }
}
