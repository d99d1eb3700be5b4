/// A `MONITOR` connection: every command the server executes, as the server's text lines
/// (`1732838400.123456 [0 127.0.0.1:50012] "evalsha" "..."`; commands run by scripts show `[0 lua]`).
///
/// For benchmarks and debugging: `MONITOR` slows the server down, and its lines contain command arguments, so never
/// point it at a production server whose commands carry secrets.
package final class RedisMonitor: Sendable {
    private let loop: IOLoop
    private let driver: MonitorDriver

    /// The lines, from the moment ``start()`` returns until ``close()``.
    package let lines: AsyncStream<String>

    package init(configuration: RedisConfiguration) throws(RedisError) {
        try configuration.validate()
        let (stream, continuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .unbounded)
        lines = stream
        driver = MonitorDriver(lines: continuation)
        loop = try IOLoop(configuration: configuration, name: "redis-monitor")
        try loop.start(driver: driver)
    }

    deinit { loop.stop() }

    /// Connects and sends `MONITOR`; returns once the server confirmed it, so every later command is seen.
    package func start() async throws(RedisError) {
        let result: Result<Void, RedisError> = await withCheckedContinuation { continuation in
            driver.requestStart(continuation)
            loop.wake()
        }
        try result.get()
    }

    /// Stops monitoring; ``lines`` ends.
    package func close() {
        loop.stop()
    }
}
