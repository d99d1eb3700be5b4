import ArgumentParser
import Foundation

/// `refresher _waiters`: one measurement of `refresher bench`, run in a fresh process (hidden).
struct WaitersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "_waiters", abstract: "Measure many tasks waiting on one refresh (used by bench).",
        shouldDisplay: false)

    /// The URL comes from `REDIS_URL` (set by `bench`), never from argv, where a password would be visible.
    @Option var redisURL: String?
    @Option var tasks = 10_000
    @Flag var bare = false

    func run() async throws {
        let result =
            bare
            ? MicroBench.WaitingResult(rssGrowthMB: try await MicroBench.baselineGrowth(tasks: tasks))
            : try await MicroBench.measureWaiting(
                redisURL: Environment.string(redisURL, "REDIS_URL") ?? "redis://127.0.0.1:6379", tasks: tasks)
        print(String(decoding: try JSONEncoder().encode(result), as: UTF8.self))
    }
}
