import ArgumentParser
import Foundation

/// `refresher _waiters`: one measurement of `refresher bench`, run in a fresh process (hidden).
struct WaitersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "_waiters",
        abstract: "Measure many tasks waiting on one refresh (used by bench).",
        shouldDisplay: false
    )

    /// `bench` passes the URL in `REDIS_URL`, never in argv, where a password would be visible.
    @OptionGroup var redis: RedisOptions<LocalRedis>
    @Option var tasks = 10_000
    @Flag var bare = false

    func run() async throws {
        let result =
            bare
            ? MicroBench.WaitingResult(rssGrowthMB: try await MicroBench.baselineGrowth(tasks: tasks))
            : try await MicroBench.measureWaiting(redisURL: try redis.url(), tasks: tasks)
        print(String(decoding: try JSONEncoder().encode(result), as: UTF8.self))
    }
}
