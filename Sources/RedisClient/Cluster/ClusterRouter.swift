import Synchronization

/// Sends commands to a Redis Cluster: one ``RedisConnection`` per primary (each pipelining on its own I/O thread), the
/// slot map learnt from the seeds, and the redirections the nodes answer with.
///
/// A command goes to the primary of its key's slot (``RedisCommand/clusterSlot``); commands without keys ride with
/// the keyed command before them in the same pipeline (so a `WAIT` follows its write to the same primary), and go to
/// any primary when the pipeline has no key. Replies asking for another node are followed within the command
/// timeout: `MOVED` updates the map (and refreshes all of it when moves pile up), `ASK` sends the command once to the
/// importing node after `ASKING`, `TRYAGAIN`, `LOADING` and `CLUSTERDOWN` are retried with backoff, and a node that
/// cannot be connected to (nothing was sent) makes the map be fetched again before the retry. A connection lost with
/// commands in flight is not retried: they may have run, so the caller gets the error, as on a single node.
final class ClusterRouter: Sendable {
    typealias Node = RedisConfiguration.Cluster.Node
    typealias Replies = [Result<RedisValue, RedisError>]

    /// How many `MOVED` replies since the last full refresh make the map be fetched again in the background.
    static let movesBeforeRefresh = 4
    /// How old the map may get while commands flow before it is fetched again in the background.
    static let refreshInterval: Duration = .seconds(30)
    /// How often one call follows redirections or retries before it gives up, whatever the time left.
    static let maximumAttempts = 16

    let configuration: RedisConfiguration
    private let seeds: [Node]
    private let name: String

    private struct State {
        var map: ClusterSlotMap?
        var fetchedAt: ContinuousClock.Instant?
        var connections: [Node: RedisConnection] = [:]
        var refresh: Task<Result<ClusterSlotMap, RedisError>, Never>?
        var movesSinceRefresh = 0
        var closed = false
    }
    private let state = Mutex(State())

    init(configuration: RedisConfiguration, cluster: RedisConfiguration.Cluster, name: String) {
        self.configuration = configuration
        self.seeds = cluster.seeds
        self.name = name
    }

    /// Closes every node connection; later commands fail with ``RedisError/Code/clientClosed``.
    func close() {
        let connections = state.withLock { state in
            state.closed = true
            state.refresh?.cancel()
            defer { state.connections = [:] }
            return Array(state.connections.values)
        }
        for connection in connections { connection.close() }
    }

    // MARK: - Commands

    /// One keyed command and the keyless commands after it: they go to the same node.
    private struct Group {
        var range: Range<Int>
        var slot: Int?
        /// Whether it is (the rest of) a transaction begun with `MULTI`.
        var transaction = false
        /// Where an `ASK` reply sent it, for its next attempt only.
        var asking: Node?
        /// How many `MOVED` replies it got: from the second on, the next attempt waits (source and target may both
        /// redirect for a moment while a slot is handed over).
        var moves = 0
    }

    /// Sends `commands` (one round trip per primary involved) and returns their replies in order.
    func execute(_ commands: [RedisCommand]) async throws(RedisError) -> Replies {
        var groups = Self.groups(commands)
        var results = Replies(repeating: .success(.null), count: commands.count)
        var pending = Array(groups.indices)
        let deadline = ContinuousClock.now.advanced(by: configuration.commandTimeout)
        var backoff = Duration.milliseconds(25)
        var attempt = 0
        while true {
            attempt += 1
            let map = try await currentMap()
            var plan: [Node: [Int]] = [:]
            var unserved: [Int] = []
            for index in pending {
                let group = groups[index]
                let node =
                    group.asking ?? (group.slot.map { map.primary(forSlot: $0) } ?? map.primaries.randomElement())
                if let node { plan[node, default: []].append(index) } else { unserved.append(index) }
            }
            let outcomes = await send(plan, groups: groups, commands: commands)
            var retry = unserved
            var wait = !unserved.isEmpty
            var refresh = !unserved.isEmpty
            var lastError: RedisError?
            for index in unserved {
                let error = RedisError(
                    .server,
                    "CLUSTERDOWN no node serves slot \(groups[index].slot ?? -1) in the map"
                )
                for position in groups[index].range { results[position] = .failure(error) }
            }
            for (node, indices, outcome) in outcomes {
                let replies: Replies
                switch outcome {
                case .failure(let error):
                    // Nothing was sent when the connection could not be made (`connectionFailed` comes only from
                    // connecting): fetch the map and try again. Any other error (a TLS error may come mid-stream)
                    // may follow commands that ran, and the caller must know.
                    guard error.code == .connectionFailed else {
                        refreshInBackground()
                        throw error
                    }
                    // An importing node that cannot be reached: go back to the slot's owner.
                    for index in indices { groups[index].asking = nil }
                    retry += indices
                    wait = true
                    refresh = true
                    lastError = error
                    continue
                case .success(let value):
                    replies = value
                }
                var offset = 0
                for index in indices {
                    if groups[index].asking != nil { offset += 1 }
                    groups[index].asking = nil
                    let range = groups[index].range
                    let groupReplies = replies[offset..<(offset + range.count)]
                    offset += range.count
                    for (position, reply) in zip(range, groupReplies) { results[position] = reply }
                    guard let redirection = Self.redirection(in: groupReplies, answeredBy: node) else { continue }
                    retry.append(index)
                    switch redirection {
                    case .moved(let slot, let target):
                        noteMoved(slot: slot, to: target)
                        groups[index].moves += 1
                        if groups[index].moves >= 2 { wait = true }
                    case .ask(_, let target):
                        groups[index].asking = target
                    case .tryAgain:
                        wait = true
                    case .clusterDown:
                        wait = true
                        refresh = true
                    }
                }
            }
            guard !retry.isEmpty else { return results }
            guard attempt < Self.maximumAttempts, ContinuousClock.now < deadline else {
                if let lastError { throw lastError }
                return results
            }
            if wait {
                let left = ContinuousClock.now.duration(to: deadline)
                guard left > .zero else {
                    if let lastError { throw lastError }
                    return results
                }
                do {
                    try await Task.sleep(for: min(backoff, left))
                } catch {
                    throw RedisError(.cancelled, "the command was cancelled")
                }
                backoff = min(backoff * 2, .milliseconds(500))
            }
            if refresh { _ = try? await refreshMap() }
            pending = retry.sorted()
        }
    }

    /// Sends each node its groups (with `ASKING` before an asked group) concurrently.
    private func send(
        _ plan: [Node: [Int]],
        groups: [Group],
        commands: [RedisCommand]
    ) async -> [(Node, [Int], Result<Replies, RedisError>)] {
        func batch(_ indices: [Int]) -> [RedisCommand] {
            var batch: [RedisCommand] = []
            for index in indices {
                if groups[index].asking != nil { batch.append(RedisCommand("ASKING")) }
                batch.append(contentsOf: commands[groups[index].range])
            }
            return batch
        }
        if plan.count == 1, let (node, indices) = plan.first {
            return [(node, indices, await pipeline(batch(indices), on: node))]
        }
        return await withTaskGroup(of: (Node, [Int], Result<Replies, RedisError>).self) { group in
            for (node, indices) in plan {
                let commands = batch(indices)
                group.addTask { (node, indices, await self.pipeline(commands, on: node)) }
            }
            var outcomes: [(Node, [Int], Result<Replies, RedisError>)] = []
            for await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
    }

    private func pipeline(_ commands: [RedisCommand], on node: Node) async -> Result<Replies, RedisError> {
        do {
            return .success(try await connection(to: node).pipeline(commands))
        } catch {
            return .failure(error)
        }
    }

    /// The first redirection among a group's replies.
    private static func redirection(
        in replies: ArraySlice<Result<RedisValue, RedisError>>,
        answeredBy node: Node
    )
        -> ClusterRedirection?
    {
        for case .failure(let error) in replies where error.code == .server {
            if let redirection = ClusterRedirection(error: error.message, answeredBy: node.host) { return redirection }
        }
        return nil
    }

    /// Splits a pipeline into groups: each command with a key starts one; keyless commands join the group before
    /// them (leading ones the first group). A transaction (`MULTI` to `EXEC` or `DISCARD`) stays in one group, routed
    /// by its first key: its commands are queued on one node, and a redirection among them aborts it as a whole
    /// (`EXECABORT`), so it is sent again whole.
    ///
    /// Keyless commands that ride with a redirected command are sent again with it: they ran on the node that
    /// redirected (harmless for `WAIT`, `TIME`, `INFO`; a keyless write there would run twice).
    private static func groups(_ commands: [RedisCommand]) -> [Group] {
        // Where each group starts, and its slot; ranges are filled in at the end.
        var groups: [Group] = []
        var inTransaction = false
        for (position, command) in commands.enumerated() {
            if !inTransaction, command.isNamed("MULTI") {
                groups.append(Group(range: position..<position, slot: nil, transaction: true))
                inTransaction = true
                continue
            }
            if inTransaction {
                if command.isNamed("EXEC") || command.isNamed("DISCARD") { inTransaction = false }
                if groups[groups.count - 1].slot == nil { groups[groups.count - 1].slot = command.clusterSlot }
                continue
            }
            guard let slot = command.clusterSlot else { continue }
            groups.append(Group(range: position..<position, slot: slot))
        }
        guard !groups.isEmpty else { return [Group(range: 0..<commands.count, slot: nil)] }
        for index in groups.indices {
            let start = index == 0 ? 0 : groups[index].range.lowerBound
            let end = index + 1 < groups.count ? groups[index + 1].range.lowerBound : commands.count
            groups[index].range = start..<end
        }
        return groups
    }

    // MARK: - Nodes

    /// The command connection to `node`, made on first use.
    func connection(to node: Node) throws(RedisError) -> RedisConnection {
        let result: Result<RedisConnection, RedisError> = state.withLock { state in
            guard !state.closed else { return .failure(RedisError(.clientClosed, "the connection was closed")) }
            if let connection = state.connections[node] { return .success(connection) }
            let made = Result { () throws(RedisError) in
                try RedisConnection(
                    configuration: configuration.node(host: node.host, port: node.port),
                    name: "\(name)-\(node.port)"
                )
            }
            if case .success(let connection) = made { state.connections[node] = connection }
            return made
        }
        return try result.get()
    }

    // MARK: - The slot map

    /// The slot map, fetched first if there is none yet; an old one is refreshed in the background.
    func currentMap() async throws(RedisError) -> ClusterSlotMap {
        let (map, stale) = state.withLock { state in
            (state.map, state.fetchedAt.map { $0.duration(to: .now) > Self.refreshInterval } ?? true)
        }
        guard let map else { return try await refreshMap() }
        if stale { refreshInBackground() }
        return map
    }

    /// Fetches the slot map again (one fetch at a time; callers arriving meanwhile share it).
    @discardableResult
    func refreshMap() async throws(RedisError) -> ClusterSlotMap {
        let task: Task<Result<ClusterSlotMap, RedisError>, Never>? = state.withLock { state in
            guard !state.closed else { return nil }
            if let refresh = state.refresh { return refresh }
            let refresh = Task { await self.fetchMap() }
            state.refresh = refresh
            return refresh
        }
        guard let task else { throw RedisError(.clientClosed, "the connection was closed") }
        return try await task.value.get()
    }

    private func refreshInBackground() {
        Task { _ = try? await self.refreshMap() }
    }

    /// Asks the known primaries, then the seeds, for the map until one answers; keeps the connections of the new
    /// map's primaries and closes the others.
    private func fetchMap() async -> Result<ClusterSlotMap, RedisError> {
        let known = state.withLock { $0.map?.primaries ?? [] }
        var candidates: [Node] = []
        for node in known + seeds where !candidates.contains(node) { candidates.append(node) }
        var failures: [String] = []
        var fetched: ClusterSlotMap?
        for node in candidates {
            do {
                let map = try await fetchMap(from: node)
                guard !map.shards.isEmpty else {
                    failures.append("\(node): serves no slots (not a cluster yet?)")
                    continue
                }
                fetched = map
                break
            } catch {
                if error.code == .authenticationFailed || error.code == .clientClosed {
                    return finishRefresh(.failure(error))
                }
                failures.append("\(node): \(error.message)")
            }
        }
        guard let fetched else {
            return finishRefresh(
                .failure(
                    RedisError(
                        .connectionFailed,
                        "no cluster node answered with the slot map: \(failures.joined(separator: "; "))"
                    )
                )
            )
        }
        return finishRefresh(.success(fetched))
    }

    private func fetchMap(from node: Node) async throws(RedisError) -> ClusterSlotMap {
        let connection = try connection(to: node)
        do {
            let reply = try await connection.send("CLUSTER", "SHARDS")
            return try ClusterSlotMap(shardsReply: reply, answeredBy: node.host, tls: configuration.tls != nil)
        } catch  where error.code == .server && error.message.uppercased().contains("UNKNOWN SUBCOMMAND") {
            let reply = try await connection.send("CLUSTER", "SLOTS")
            return try ClusterSlotMap(slotsReply: reply, answeredBy: node.host)
        } catch  where error.code == .server && error.message.contains("cluster support disabled") {
            throw RedisError(
                .invalidConfiguration,
                "\(node) is not a cluster node (cluster support disabled); use a redis:// URL for a single server"
            )
        }
    }

    private func finishRefresh(_ result: Result<ClusterSlotMap, RedisError>) -> Result<ClusterSlotMap, RedisError> {
        state.withLock { state in
            state.refresh = nil
            guard case .success(let map) = result, !state.closed else { return }
            state.map = map
            state.fetchedAt = .now
            state.movesSinceRefresh = 0
            // Connections to nodes that are no longer primaries (demoted, removed, seeds that only answered the
            // fetch) are dropped, not closed: a call still using one finishes on it, and it closes when released.
            let keep = Set(map.primaries)
            state.connections = state.connections.filter { keep.contains($0.key) }
        }
        return result
    }

    /// A `MOVED` reply: the slot goes to `node` at once; the whole map is fetched again when moves pile up or name a
    /// node the map does not know.
    private func noteMoved(slot: Int, to node: Node) {
        let refresh = state.withLock { state -> Bool in
            let known = state.map?.primaries.contains(node) ?? false
            state.map?.move(slot: slot, to: node)
            state.movesSinceRefresh += 1
            return !known || state.movesSinceRefresh >= Self.movesBeforeRefresh
        }
        if refresh { refreshInBackground() }
    }
}
