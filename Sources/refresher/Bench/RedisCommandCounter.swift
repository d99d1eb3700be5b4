import RedisClient

/// The commands Redis servers executed, from `INFO commandstats`, summed over a list of nodes: one server, or every
/// primary of a cluster (``nodes(for:)``). What a benchmark's clients cost the servers, the commands that scripts ran
/// included (`EVALSHA` counts once, and each `redis.call` inside it once more).
///
/// Unlike `MONITOR` it costs the servers nothing while they are measured, and it adds up over nodes.
struct RedisCommandCounter: Sendable {
    /// One URL per node whose commands count.
    let nodeURLs: [String]

    /// Commands counted at one moment, or between two moments (``delta(from:to:)``).
    struct Counts: Codable, Sendable, Equatable {
        /// Calls by command name (`evalsha`, `hgetall`, `script|load`, ...), the counter's own `INFO` left out.
        var byCommand: [String: Int] = [:]
        /// CPU time the servers used (`used_cpu_user` + `used_cpu_sys` of `INFO cpu`), seconds.
        var cpuSeconds = 0.0
        /// Every call.
        var total: Int { byCommand.values.reduce(0, +) }
        /// `EVALSHA` and `EVAL` calls: the round trips of the refresher's scripts.
        var scriptCalls: Int { (byCommand["evalsha"] ?? 0) + (byCommand["eval"] ?? 0) }
    }

    /// The counts of every node now, summed (`INFO commandstats` and `INFO cpu` of each node).
    func snapshot() async throws -> Counts {
        var counts = Counts()
        for url in nodeURLs {
            let connection = try RedisConnection(url: url)
            defer { connection.close() }
            let info = try await RedisInfo.fetch("commandstats", from: connection)
            for (name, calls) in Self.calls(in: info) { counts.byCommand[name, default: 0] += calls }
            let cpu = try await RedisInfo.fetch("cpu", from: connection)
            counts.cpuSeconds += (cpu.double("used_cpu_user") ?? 0) + (cpu.double("used_cpu_sys") ?? 0)
        }
        return counts
    }

    /// The calls between two snapshots.
    static func delta(from before: Counts, to after: Counts) -> Counts {
        var delta = Counts(cpuSeconds: after.cpuSeconds - before.cpuSeconds)
        for (name, calls) in after.byCommand {
            let difference = calls - (before.byCommand[name] ?? 0)
            if difference > 0 { delta.byCommand[name] = difference }
        }
        return delta
    }

    /// `cmdstat_<name>:calls=<n>,usec=...` fields as calls by name, without `info` (the counter's own reads).
    static func calls(in info: RedisInfo) -> [String: Int] {
        var calls: [String: Int] = [:]
        for (field, value) in info.fields where field.hasPrefix("cmdstat_") {
            let name = String(field.dropFirst("cmdstat_".count))
            guard name != "info",
                let count = value.split(separator: ",").first(where: { $0.hasPrefix("calls=") })
                    .flatMap({ Int($0.dropFirst("calls=".count)) })
            else { continue }
            calls[name] = count
        }
        return calls
    }
}
