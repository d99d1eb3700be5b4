import Foundation
import RedisRefresher
import Synchronization

/// One sessions storm (see ``SessionStormBench``): its identity provider, sessions and worker processes, which
/// ``finish()`` stops and deletes whatever happened.
final class SessionStormRun: Sendable {
    let redisURL: String
    let counter: RedisCommandCounter
    let idp: SessionsIdentityProvider
    let server: SessionsIdentityProvider.Server
    let sessions: BenchSessionSet
    private let workers = Mutex<[SessionsWorkerProcess]>([])

    init(redisURL: String, sessions count: Int, refreshLatency: Duration) async throws {
        self.redisURL = redisURL
        counter = try await RedisCommandCounter.counting(redisURL)
        sessions = try BenchSessionSet(count: count, kind: "sessions", redisURL: redisURL)
        idp = SessionsIdentityProvider(sessions: count, refreshLatency: refreshLatency)
        do {
            server = try await idp.serve()
        } catch {
            await sessions.deleteAndClose()
            throw error
        }
    }

    func storm(processes: Int, callers: Int) async throws -> SessionStormResult {
        let count = sessions.count
        let beforeSetup = try await counter.snapshot()
        let environment = [RedisURL.variable: redisURL, "IDP_URL": server.url]
        let arguments = ["--sessions", String(count), "--prefix", sessions.prefix, "--callers", String(callers)]
        for _ in 0..<processes {
            let worker = try await SessionsWorkerProcess(arguments: arguments, environment: environment)
            workers.withLock { $0.append(worker) }
        }
        let fleet = workers.withLock { $0 }
        let setupTimeout = Duration.seconds(60 + count * processes / 100)
        let ready = try await fleet.lines(.ready, timeout: setupTimeout)
        let setup = RedisCommandCounter.delta(from: beforeSetup, to: try await counter.snapshot())

        // The storm instant: a whole second, far enough ahead to store and load every session first.
        let start = (unixSeconds() + 1.5 + Double(count * processes) / 4000).rounded(.up)
        let idp = self.idp
        try await sessions.store { index in
            let tokens = idp.login(session: index, accessExpiresAt: start)
            return RefreshedTokens(
                accessToken: tokens.accessToken,
                refreshToken: tokens.refreshToken,
                expiresAtMilliseconds: Int64(start * 1000)
            )
        }
        for worker in fleet { worker.send("load \(start)") }
        let loaded = try await fleet.lines(.loaded, timeout: setupTimeout)
        let beforeStorm = try await counter.snapshot()
        let driverCPU = ProcessUsage.cpuSeconds()
        let barrierHeld = unixSeconds() < start
        // Callers give up 60 s after the instant (``SessionsWorker/callerTimeout``).
        let stormed = try await fleet.lines(.stormed, timeout: .seconds(max(start + 90 - unixSeconds(), 1)))
        let driverCPUSeconds = ProcessUsage.cpuSeconds() - driverCPU
        let storm = RedisCommandCounter.delta(from: beforeStorm, to: try await counter.snapshot())
        return SessionStormResult(
            callersPerSession: callers,
            counts: idp.counts,
            ready: ready,
            loaded: loaded,
            stormed: stormed,
            setupCommands: setup,
            stormCommands: storm,
            driverCPUSeconds: driverCPUSeconds,
            nodes: counter.nodeURLs.count,
            barrierHeld: barrierHeld
        )
    }

    /// Stops the workers, deletes the sessions, stops the identity provider.
    func finish() async {
        let fleet = workers.withLock { $0 }
        await withTaskGroup(of: Void.self) { group in
            for worker in fleet { group.addTask { await worker.stop() } }
        }
        await sessions.deleteAndClose()
        await server.stop()
    }
}

extension [SessionsWorkerProcess] {
    /// Every worker's line of `phase`, in the workers' order.
    func lines(_ phase: SessionsWorkerLine.Phase, timeout: Duration) async throws -> [SessionsWorkerLine] {
        try await withThrowingTaskGroup(of: (Int, SessionsWorkerLine).self) { group in
            for (index, worker) in enumerated() {
                group.addTask { (index, try await worker.line(phase, timeout: timeout)) }
            }
            var lines = [SessionsWorkerLine?](repeating: nil, count: count)
            while let (index, line) = try await group.next() { lines[index] = line }
            return lines.compactMap { $0 }
        }
    }
}
