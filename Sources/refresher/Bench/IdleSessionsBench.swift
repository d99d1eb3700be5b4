import Foundation
import RedisRefresher

/// Many sessions in one worker process (`refresher _sessions --idle`) over one set of connections, with fresh tokens
/// that do not expire during the window: what each session costs in memory, and in Redis commands while nothing
/// expires (the goal: none).
struct IdleSessionsBench {
    let redisURL: String

    func run(sessions count: Int, window: Duration) async throws -> IdleSessionsResult {
        let counter = try await RedisCommandCounter.counting(redisURL)
        let sessions = try BenchSessionSet(count: count, kind: "idle", redisURL: redisURL)
        var worker: SessionsWorkerProcess?
        do {
            let lifetime = Int64((window.seconds + 3600) * 1000)
            try await sessions.store { index in
                RefreshedTokens(
                    accessToken: "idle-access-\(index)",
                    refreshToken: "idle-refresh-\(index)",
                    expiresAtMilliseconds: UnixTime.nowMilliseconds + lifetime
                )
            }
            let beforeSetup = try await counter.snapshot()
            let started = ContinuousClock.now
            let process = try await SessionsWorkerProcess(
                arguments: ["--sessions", String(count), "--prefix", sessions.prefix, "--idle"],
                environment: [RedisURL.variable: redisURL]
            )
            worker = process
            let setupTimeout = Duration.seconds(60 + count / 50)
            let ready = try await process.line(.ready, timeout: setupTimeout)
            let setup = RedisCommandCounter.delta(from: beforeSetup, to: try await counter.snapshot())
            process.send("load 0")
            let loaded = try await process.line(.loaded, timeout: setupTimeout)
            let setupSeconds = (ContinuousClock.now - started).seconds

            let before = try await counter.snapshot()
            let workerCPU = process.cpuSeconds ?? 0
            let windowStart = ContinuousClock.now
            try await Task.sleep(for: window)
            let workerCPUSeconds = (process.cpuSeconds ?? 0) - workerCPU
            let idle = RedisCommandCounter.delta(from: before, to: try await counter.snapshot())
            let minutes = (ContinuousClock.now - windowStart).seconds / 60
            process.send("exit")
            let done = try await process.line(.done, timeout: .seconds(30))
            await process.stop()
            await sessions.deleteAndClose()
            let base = ready.baseResidentKB ?? 0
            return IdleSessionsResult(
                sessions: count,
                windowSeconds: window.seconds,
                baseResidentMB: Double(base) / 1024,
                residentKBPerSession: Double(loaded.residentKB - base) / Double(count),
                setupCommandsPerSession: Double(setup.total) / Double(count),
                setupCommandBreakdown: setup.byCommand,
                redisCommands: idle.total,
                redisCommandsPerSessionPerMinute: Double(idle.total) / Double(count) / minutes,
                redisCommandsPerMinute: Double(idle.total) / minutes,
                commandBreakdown: idle.byCommand,
                redisCPUMsPerMinute: idle.cpuSeconds * 1000 / minutes,
                workerCPUMsPerMinute: workerCPUSeconds * 1000 / minutes,
                reads: done.reads ?? 0,
                nodes: counter.nodeURLs.count,
                setupSeconds: setupSeconds,
                makeSeconds: ready.madeSeconds ?? 0,
                listeningSeconds: ready.listeningSeconds ?? 0
            )
        } catch {
            await worker?.stop()
            await sessions.deleteAndClose()
            throw error
        }
    }
}
