import Foundation
import Histogram
import RedisClient
import RedisRefresher

/// Many sessions expiring in the same second, with worker processes (`refresher _sessions`) that each serve every
/// session over one set of connections and have callers for every session.
///
/// The run: the workers make their refreshers and listen; the sessions are logged in at
/// ``SessionsIdentityProvider`` with access tokens that expire at one instant T (a whole second) and stored with that
/// expiry; the workers load them; at T every caller gets a 401 and asks its refresher for fresh credentials.
/// Commands are counted from just before T until the last worker reported.
struct SessionStormBench {
    let redisURL: String
    let refreshLatency: Duration

    func run(sessions count: Int, processes: Int, callers: Int) async throws -> SessionStormResult {
        let began = ContinuousClock.now
        let counter = try await RedisCommandCounter.counting(redisURL)
        let idp = SessionsIdentityProvider(sessions: count, refreshLatency: refreshLatency)
        let server = try await idp.serve()
        let redis = try RedisConnection(url: redisURL)
        let sessions = BenchSessionSet(count: count, kind: "sessions")
        var workers: [SessionsWorkerProcess] = []
        do {
            let result = try await storm(
                sessions,
                processes: processes,
                callers: callers,
                idp: idp,
                idpURL: server.url,
                redis: redis,
                counter: counter,
                workers: &workers
            )
            await Self.stop(workers)
            await finish(sessions, redis: redis, server: server)
            var complete = result
            complete.runSeconds = (ContinuousClock.now - began).seconds
            return complete
        } catch {
            await Self.stop(workers)
            await finish(sessions, redis: redis, server: server)
            throw error
        }
    }

    private func storm(
        _ sessions: BenchSessionSet,
        processes: Int,
        callers: Int,
        idp: SessionsIdentityProvider,
        idpURL: String,
        redis: RedisConnection,
        counter: RedisCommandCounter,
        workers: inout [SessionsWorkerProcess]
    ) async throws -> SessionStormResult {
        let count = sessions.count
        let beforeSetup = try await counter.snapshot()
        let environment = [RedisURL.variable: redisURL, "IDP_URL": idpURL]
        let arguments = ["--sessions", String(count), "--prefix", sessions.prefix, "--callers", String(callers)]
        for _ in 0..<processes {
            workers.append(try await SessionsWorkerProcess(arguments: arguments, environment: environment))
        }
        let setupTimeout = Duration.seconds(60 + count * processes / 100)
        let ready = try await Self.lines(.ready, of: workers, timeout: setupTimeout)
        let setup = RedisCommandCounter.delta(from: beforeSetup, to: try await counter.snapshot())

        // The storm instant: a whole second, far enough ahead to store and load every session first.
        let start = (unixSeconds() + 1.5 + Double(count * processes) / 4000).rounded(.up)
        try await sessions.store(on: redis) { index in
            let tokens = idp.login(session: index, accessExpiresAt: start)
            return RefreshedTokens(
                accessToken: tokens.accessToken,
                refreshToken: tokens.refreshToken,
                expiresAtMilliseconds: Int64(start * 1000)
            )
        }
        for worker in workers { worker.send("load \(start)") }
        let loaded = try await Self.lines(.loaded, of: workers, timeout: setupTimeout)
        let beforeStorm = try await counter.snapshot()
        let barrierHeld = unixSeconds() < start
        // Callers stop at 60 s after the instant (``SessionsWorker/callerTimeout``).
        let stormTimeout = Duration.seconds(max(start + 90 - unixSeconds(), 1))
        let stormed = try await Self.lines(.stormed, of: workers, timeout: stormTimeout)
        let storm = RedisCommandCounter.delta(from: beforeStorm, to: try await counter.snapshot())

        var tallies = [SessionTally](repeating: SessionTally(), count: count)
        var refreshesByWorkers = 0
        var errors: [String: Int] = [:]
        for line in stormed {
            for (index, tally) in (line.storm ?? []).enumerated() where index < count {
                tallies[index].merge(tally)
                if tally.refreshedHere { refreshesByWorkers += 1 }
            }
            errors.merge(line.errors ?? [:], uniquingKeysWith: +)
        }
        var perSession = Histogram<UInt64>.latencies()
        for tally in tallies {
            if let first = tally.first401, let last = tally.lastServed {
                perSession.record(milliseconds: (last - first) * 1000)
            }
        }
        let first401 = tallies.compactMap(\.first401).min()
        let lastServed = tallies.compactMap(\.lastServed).max()
        let counts = idp.counts
        func kilobytesPerSession(_ lines: [SessionsWorkerLine]) -> Double {
            zip(ready, lines).map { Double($1.residentKB - ($0.baseResidentKB ?? 0)) / Double(count) }
                .reduce(0, +) / Double(processes)
        }
        return SessionStormResult(
            sessions: count,
            processes: processes,
            callersPerSession: callers,
            refreshes: counts.map(\.refreshes).reduce(0, +),
            sessionsRefreshedOnce: counts.filter { $0.refreshes == 1 }.count,
            reuseEvents: counts.map(\.reuseEvents).reduce(0, +),
            refreshesByWorkers: refreshesByWorkers,
            callersServed: tallies.map(\.served).reduce(0, +),
            callersTotal: count * processes * callers,
            errors: errors,
            stormMs: first401.flatMap { first in lastServed.map { ($0 - first) * 1000 } },
            sessionStormP50Ms: perSession.milliseconds(atPercentile: 50),
            sessionStormP99Ms: perSession.milliseconds(atPercentile: 99),
            sessionStormMaxMs: perSession.maxMilliseconds,
            redisCommands: storm.total,
            redisCommandsPerSession: Double(storm.total) / Double(count),
            scriptCallsPerSession: Double(storm.scriptCalls) / Double(count),
            commandBreakdown: storm.byCommand,
            setupCommandsPerSessionPerProcess: Double(setup.total) / Double(count * processes),
            setupCommandBreakdown: setup.byCommand,
            baseResidentMB: ready.map { Double($0.baseResidentKB ?? 0) / 1024 }.reduce(0, +) / Double(processes),
            residentKBPerSession: kilobytesPerSession(loaded),
            residentKBPerSessionAfterStorm: kilobytesPerSession(stormed),
            nodes: counter.nodeURLs.count,
            barrierHeld: barrierHeld,
            runSeconds: 0
        )
    }

    /// Every worker's line of `phase`, in the workers' order.
    static func lines(
        _ phase: SessionsWorkerLine.Phase,
        of workers: [SessionsWorkerProcess],
        timeout: Duration
    ) async throws -> [SessionsWorkerLine] {
        try await withThrowingTaskGroup(of: (Int, SessionsWorkerLine).self) { group in
            for (index, worker) in workers.enumerated() {
                group.addTask { (index, try await worker.line(phase, timeout: timeout)) }
            }
            var lines = [SessionsWorkerLine?](repeating: nil, count: workers.count)
            while let (index, line) = try await group.next() { lines[index] = line }
            return lines.compactMap { $0 }
        }
    }

    static func stop(_ workers: [SessionsWorkerProcess]) async {
        await withTaskGroup(of: Void.self) { group in
            for worker in workers { group.addTask { await worker.stop() } }
        }
    }

    private func finish(
        _ sessions: BenchSessionSet,
        redis: RedisConnection,
        server: SessionsIdentityProvider.Server
    )
        async
    {
        await sessions.delete(on: redis)
        redis.close()
        await server.stop()
    }
}
