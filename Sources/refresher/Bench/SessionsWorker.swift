import Foundation
import Logging
import RedisRefresher

/// One worker process of the sessions benchmark: one ``RefresherConnections`` shared by a ``RedisRefresher`` per
/// session, as a multi-tenant service runs them.
///
/// It makes every refresher, waits until each listens for its session's events and writes a `ready` line; then it
/// follows its parent's commands on standard input:
/// - `load <unix time>`: reads every session into memory (`loaded`); in storm mode, at that instant each session's
///   callers call `GET /resource` with the expired token, get a 401, get fresh credentials through the refresher
///   and call again (`stormed`, with what each session's callers saw); in idle mode, reads every session's
///   credentials once a second until `exit`.
/// - `exit` (or end of input): shuts down (`done`).
struct SessionsWorker {
    let redisURL: String
    /// The identity provider (storm mode); `nil` in idle mode, where nothing is refreshed.
    let identityProviderURL: String?
    let sessions: [String]
    /// Callers per session at the storm instant.
    let callers: Int
    /// How long callers may take after the storm instant.
    var callerTimeout: Duration = .seconds(60)

    func run() async throws {
        var logger = Logger(label: "refresher-sessions")
        logger.logLevel = .warning
        let connections = try RefresherConnections(url: redisURL, logger: logger)
        // The resource calls and the refreshes go through clients of their own, as to two hosts: a refresh never
        // queues behind a thousand resource calls for a pooled connection. The token endpoint's client has a
        // connection per session (up to 1,000), so the provider's latency, not a pool, paces concurrent refreshes.
        let http = identityProviderURL.map { DemoHTTP(baseURL: $0, connections: 64) }
        let tokenEndpoint = identityProviderURL.map {
            DemoHTTP(baseURL: $0, connections: min(max(sessions.count, 8), 1000))
        }
        let never: RedisRefresher.RefreshFunction = { @Sendable _ in
            throw RefreshFailure.notProcessed("the idle benchmark never refreshes")
        }
        let refresh = tokenEndpoint?.refreshFunction ?? never
        do {
            try await run(connections: connections, http: http, refresh: refresh, logger: logger)
        } catch {
            await connections.shutdown(gracePeriod: .seconds(1))
            await http?.shutdown()
            await tokenEndpoint?.shutdown()
            throw error
        }
        await connections.shutdown(gracePeriod: .seconds(1))
        await http?.shutdown()
        await tokenEndpoint?.shutdown()
    }

    private func run(
        connections: RefresherConnections,
        http: DemoHTTP?,
        refresh: @escaping RedisRefresher.RefreshFunction,
        logger: Logger
    ) async throws {
        // The command connection is up before the baseline; the subscriber connects with the first session's
        // SUBSCRIBE, a few kB counted with the sessions.
        _ = try await connections.commands.send("PING")
        let baseResident = ProcessUsage.residentKilobytes()
        let began = ContinuousClock.now
        let refreshers = try await makeRefreshers(connections: connections, refresh: refresh, logger: logger)
        let made = (ContinuousClock.now - began).seconds
        try await waitUntilListening(refreshers)
        let listening = (ContinuousClock.now - began).seconds
        emit(
            SessionsWorkerLine(
                phase: .ready,
                residentKB: ProcessUsage.residentKilobytes(),
                cpuSeconds: ProcessUsage.cpuSeconds(),
                baseResidentKB: baseResident,
                madeSeconds: made,
                listeningSeconds: listening
            ).json
        )

        let reads = Counter()
        var reading: Task<Void, Never>?
        defer { reading?.cancel() }
        for await line in StandardInputLines.stream() {
            let words = line.split(separator: " ")
            if words.first == "exit" { break }
            guard words.first == "load", words.count == 2, let start = Double(words[1]) else {
                throw CLIError("unknown command from the benchmark: \(line.prefix(40))")
            }
            let loaded = try await loadAll(refreshers)
            emit(
                SessionsWorkerLine(
                    phase: .loaded,
                    residentKB: ProcessUsage.residentKilobytes(),
                    cpuSeconds: ProcessUsage.cpuSeconds()
                ).json
            )
            if let http {
                let (tallies, errors) = await storm(refreshers, credentials: loaded, http: http, start: start)
                emit(
                    SessionsWorkerLine(
                        phase: .stormed,
                        residentKB: ProcessUsage.residentKilobytes(),
                        cpuSeconds: ProcessUsage.cpuSeconds(),
                        storm: tallies,
                        errors: errors
                    ).json
                )
            } else {
                reading = Task { await Self.readEverySecond(refreshers, counting: reads) }
            }
        }
        reading?.cancel()
        await reading?.value
        emit(
            SessionsWorkerLine(
                phase: .done,
                residentKB: ProcessUsage.residentKilobytes(),
                cpuSeconds: ProcessUsage.cpuSeconds(),
                reads: reads.value
            ).json
        )
    }

    /// A refresher per session, all on `connections`; made 64 at a time (each loads the scripts once).
    private func makeRefreshers(
        connections: RefresherConnections,
        refresh: @escaping RedisRefresher.RefreshFunction,
        logger: Logger
    ) async throws -> [RedisRefresher] {
        var made = [RedisRefresher?](repeating: nil, count: sessions.count)
        try await withThrowingTaskGroup(of: (Int, RedisRefresher).self) { group in
            var next = 0
            func add() {
                guard next < sessions.count else { return }
                let index = next
                let configuration = RefresherConfiguration(redisURL: redisURL, session: sessions[index])
                group.addTask {
                    let refresher = try await RedisRefresher(
                        configuration: configuration,
                        connections: connections,
                        logger: logger,
                        refresh: refresh
                    )
                    return (index, refresher)
                }
                next += 1
            }
            for _ in 0..<64 { add() }
            while let (index, refresher) = try await group.next() {
                made[index] = refresher
                add()
            }
        }
        return made.compactMap { $0 }
    }

    /// Waits until every refresher's subscription is confirmed, so that the storm's outcomes reach its waiters by
    /// pub/sub (polling would measure something else).
    private func waitUntilListening(_ refreshers: [RedisRefresher]) async throws {
        let deadline = ContinuousClock.now.advanced(by: .seconds(120))
        var pending = refreshers
        while true {
            pending.removeAll { $0.isListeningForEvents }
            if pending.isEmpty { return }
            guard ContinuousClock.now < deadline else {
                throw CLIError("\(pending.count) of \(refreshers.count) sessions never listened for their events")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Every session's credentials, read from Redis into each refresher's memory at once.
    private func loadAll(_ refreshers: [RedisRefresher]) async throws -> [Credentials] {
        var loaded = [Credentials?](repeating: nil, count: refreshers.count)
        try await withThrowingTaskGroup(of: (Int, Credentials).self) { group in
            for (index, refresher) in refreshers.enumerated() {
                group.addTask { (index, try await refresher.credentials()) }
            }
            while let (index, credentials) = try await group.next() { loaded[index] = credentials }
        }
        return loaded.compactMap { $0 }
    }

    /// Every session's callers at `start`; what each session's callers saw, and their errors by kind.
    private func storm(
        _ refreshers: [RedisRefresher],
        credentials: [Credentials],
        http: DemoHTTP,
        start: Double
    ) async -> ([SessionTally], [String: Int]) {
        var tallies = [SessionTally](repeating: SessionTally(), count: refreshers.count)
        var errors: [String: Int] = [:]
        let deadline = start + callerTimeout.seconds
        // The tokens expire at `start`; sleeps round to milliseconds, so callers aim a little after it.
        let callAt = start + 0.005
        await withTaskGroup(of: (Int, StormCaller.Outcome).self) { group in
            for (index, refresher) in refreshers.enumerated() {
                let caller = StormCaller(refresher: refresher, http: http, stale: credentials[index])
                for _ in 0..<callers {
                    group.addTask { (index, await caller.call(start: callAt, deadline: deadline)) }
                }
            }
            for await (index, outcome) in group {
                tallies[index].callers += 1
                if let t401 = outcome.t401 {
                    tallies[index].first401 = min(tallies[index].first401 ?? t401, t401)
                    tallies[index].last401 = max(tallies[index].last401 ?? t401, t401)
                }
                if let stored = outcome.refreshStored { tallies[index].refreshStored = stored }
                if let served = outcome.served {
                    tallies[index].served += 1
                    tallies[index].lastServed = max(tallies[index].lastServed ?? served, served)
                }
                if outcome.refreshedHere { tallies[index].refreshedHere = true }
                if let error = outcome.error { errors[error, default: 0] += 1 }
            }
        }
        return (tallies, errors)
    }

    /// Reads every session's credentials once a second (from memory while nothing expires), until cancelled.
    private static func readEverySecond(_ refreshers: [RedisRefresher], counting reads: Counter) async {
        while !Task.isCancelled {
            for refresher in refreshers {
                _ = try? await refresher.credentials()
                reads.increment()
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }
}
