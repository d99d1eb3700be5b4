import RedisClient

extension SentinelTopology {
    /// What a failover did.
    public struct Failover: Sendable, Hashable, CustomStringConvertible {
        /// The primary before.
        public let oldPrimaryPort: Int
        /// The primary after, as a majority of the sentinels report it and its `ROLE` says.
        public let newPrimaryPort: Int
        /// From the request to the moment a majority of the sentinels reported the new primary.
        public let elapsed: Duration

        public var description: String { "failover \(oldPrimaryPort) -> \(newPrimaryPort) in \(elapsed)" }
    }

    /// Fails the primary over with `SENTINEL FAILOVER`, sent to the first running sentinel that accepts it, once the
    /// topology is ready for it (see ``waitUntilReady(timeout:)``: after an earlier failover, the old primary must
    /// have been demoted first, which the sentinels do a few of their periods later, see ``SentinelPeriods``);
    /// returns once another node answers `ROLE` as master and a majority of the sentinels report it. `timeout`
    /// bounds the whole.
    @discardableResult
    public func failover(timeout: Duration = .seconds(60)) async throws -> Failover {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        let oldPrimary = try await waitUntilReady(timeout: timeout)
        let requested = ContinuousClock.now
        try await poll("a sentinel accepts SENTINEL FAILOVER \(primaryName)", timeout: deadline - .now) {
            () async throws -> Check<Void> in
            var refusals: [String] = []
            for sentinel in running(sentinels) {
                do {
                    try await sentinel.send("SENTINEL", "FAILOVER", RedisArgument(primaryName))
                    return .met(())
                } catch {
                    refusals.append("\(sentinel.port): \(error)")
                }
            }
            return .unmet(refusals.joined(separator: "; "))
        }
        let newPrimary = try await waitForNewPrimary(notOn: oldPrimary, timeout: deadline - .now)
        return Failover(oldPrimaryPort: oldPrimary, newPrimaryPort: newPrimary, elapsed: .now - requested)
    }

    /// Kills the primary (`SIGKILL`, as a crash would) and returns its port once it has been reaped; the sentinels
    /// notice after `downAfter` and promote a replica (see ``waitForNewPrimary(notOn:timeout:)``). The node stays
    /// down until ``restartNode(port:timeout:)``.
    @discardableResult
    public func crashPrimary() async throws -> Int {
        let primary = try await primary()
        try await primary.kill()
        return primary.port
    }

    /// Stops the primary (`SIGSTOP`) and returns its port: it answers nothing while its connections stay open. Past
    /// `downAfter`, the sentinels promote a replica (see ``waitForNewPrimary(notOn:timeout:)``);
    /// ``resumeOldPrimary(timeout:)`` lets it run again.
    @discardableResult
    public func pausePrimary() async throws -> Int {
        let primary = try await primary()
        primary.pause()
        recordPaused(primary)
        return primary.port
    }

    /// Lets the node stopped by ``pausePrimary()`` run again (`SIGCONT`) and waits until the topology is ready again
    /// (see ``waitUntilReady(timeout:)``): after a failover, until the sentinels have demoted it to a replica of the
    /// new primary (3 s after it resumed with ``SentinelPeriods/fast``, 20 s with Redis's own periods); without one,
    /// until it is the primary again. The primary's port.
    @discardableResult
    public func resumeOldPrimary(timeout: Duration = .seconds(60)) async throws -> Int {
        guard let node = takePausedNode() else { throw TopologyError("no primary was paused") }
        node.resume()
        return try await waitUntilReady(timeout: timeout)
    }

    /// Kills the sentinel at `index` in ``sentinels`` (`SIGKILL`).
    public func stopSentinel(_ index: Int) async throws {
        try await sentinels[index].kill()
    }

    /// Starts the sentinel at `index` in ``sentinels`` again, from its configuration file as it last rewrote it, and
    /// returns once it answers and has its periods set.
    public func startSentinel(_ index: Int, timeout: Duration = .seconds(10)) async throws {
        try await startSentinel(sentinels[index], timeout: timeout)
    }

    /// Kills the data node on `port` if it runs and starts it again, from its configuration file (as Redis last
    /// rewrote it: a sentinel that reconfigured the node rewrote its `replicaof`); returns once it answers. A node
    /// that comes back as a primary while the sentinels know another one is demoted by them a few hello periods later
    /// (see ``SentinelPeriods``).
    public func restartNode(port: Int, timeout: Duration = .seconds(10)) async throws {
        guard let node = node(port: port) else { throw TopologyError("no data node on port \(port)") }
        try await node.restart(timeout: timeout)
    }
}
