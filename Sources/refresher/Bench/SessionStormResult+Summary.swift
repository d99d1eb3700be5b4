import Histogram

extension SessionStormResult {
    /// Sums up one storm: what the identity provider counted per session, and the workers' lines of each phase (in
    /// the same order).
    init(
        callersPerSession callers: Int,
        counts: [SessionsIdentityProvider.SessionCounts],
        ready: [SessionsWorkerLine],
        loaded: [SessionsWorkerLine],
        stormed: [SessionsWorkerLine],
        setupCommands setup: RedisCommandCounter.Counts,
        stormCommands storm: RedisCommandCounter.Counts,
        driverCPUSeconds: Double,
        nodes: Int,
        barrierHeld: Bool
    ) {
        let count = counts.count
        let processes = ready.count
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
        var stored = Histogram<UInt64>.latencies()
        var served = Histogram<UInt64>.latencies()
        for tally in tallies {
            guard let first = tally.first401 else { continue }
            if let time = tally.refreshStored { stored.record(milliseconds: (time - first) * 1000) }
            if let time = tally.lastServed { served.record(milliseconds: (time - first) * 1000) }
        }
        let first401 = tallies.compactMap(\.first401).min()
        func since401(_ time: Double?) -> Double? { first401.flatMap { first in time.map { ($0 - first) * 1000 } } }
        func kilobytesPerSession(_ lines: [SessionsWorkerLine]) -> Double {
            let growth = zip(ready, lines).map { Double($1.residentKB - ($0.baseResidentKB ?? 0)) / Double(count) }
            return growth.reduce(0, +) / Double(max(processes, 1))
        }
        self.init(
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
            stormMs: since401(tallies.compactMap(\.lastServed).max()),
            unauthorizedSpreadMs: since401(tallies.compactMap(\.last401).max()),
            sessionRefreshP50Ms: stored.milliseconds(atPercentile: 50),
            sessionRefreshP99Ms: stored.milliseconds(atPercentile: 99),
            sessionStormP50Ms: served.milliseconds(atPercentile: 50),
            sessionStormP99Ms: served.milliseconds(atPercentile: 99),
            sessionStormMaxMs: served.maxMilliseconds,
            redisCommands: storm.total,
            redisCommandsPerSession: Double(storm.total) / Double(count),
            redisCPUMsPerSession: storm.cpuSeconds * 1000 / Double(count),
            workerCPUMsPerSession: zip(loaded, stormed).map { ($1.cpuSeconds ?? 0) - ($0.cpuSeconds ?? 0) }
                .reduce(0, +) * 1000 / Double(count),
            driverCPUMsPerSession: driverCPUSeconds * 1000 / Double(count),
            scriptCallsPerSession: Double(storm.scriptCalls) / Double(count),
            commandBreakdown: storm.byCommand,
            setupCommandsPerSessionPerProcess: Double(setup.total) / Double(count * max(processes, 1)),
            setupCommandBreakdown: setup.byCommand,
            baseResidentMB: ready.map { Double($0.baseResidentKB ?? 0) / 1024 }.reduce(0, +)
                / Double(max(processes, 1)),
            residentKBPerSession: kilobytesPerSession(loaded),
            residentKBPerSessionAfterStorm: kilobytesPerSession(stormed),
            nodes: nodes,
            setupSeconds: ready.compactMap(\.listeningSeconds).max() ?? 0,
            barrierHeld: barrierHeld,
            runSeconds: 0
        )
    }
}
