import Foundation
import RedisRefresher

/// One soak measurement: what must not grow over a long run.
struct SoakSample: Sendable {
    var seconds: Double
    var workerRSSMB: Double
    var workerThreads: Int
    var redisClients: Int
    var redisKeys: Int
    var redisMemoryMB: Double

    var line: String {
        String(
            format: "t=%6.0fs workers RSS %.1f MB, %d threads; Redis %d clients, %d keys, %.1f MB",
            seconds,
            workerRSSMB,
            workerThreads,
            redisClients,
            redisKeys,
            redisMemoryMB
        )
    }

    static func take(workers: [DemoWorker], redis: RedisConnection, at seconds: Double) async -> SoakSample {
        var rss = 0.0
        var threads = 0
        for worker in workers {
            guard let status = try? String(contentsOfFile: "/proc/\(worker.pid)/status", encoding: .utf8) else {
                continue
            }
            for line in status.split(separator: "\n") {
                let value =
                    line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first.flatMap { Double($0) }
                    ?? 0
                if line.hasPrefix("VmRSS:") { rss += value / 1024 }
                if line.hasPrefix("Threads:") { threads += Int(value) }
            }
        }
        let clients = (try? await RedisInfo.fetch("clients", from: redis))?.int("connected_clients") ?? 0
        let memory = (try? await RedisInfo.fetch("memory", from: redis))?.double("used_memory") ?? 0
        let keys = (try? await redis.send("DBSIZE").int) ?? 0
        return SoakSample(
            seconds: seconds,
            workerRSSMB: rss,
            workerThreads: threads,
            redisClients: clients,
            redisKeys: Int(keys),
            redisMemoryMB: memory / 1_048_576
        )
    }
}
