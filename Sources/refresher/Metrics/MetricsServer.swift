import Hummingbird
import Logging
import ServiceLifecycle

/// An HTTP server with one route, `GET /metrics` (see ``PrometheusMetrics``), for a process that serves nothing else.
struct MetricsServer: Sendable {
    /// The bound port.
    let port: Int
    /// `http://HOST:PORT/metrics`.
    let url: String
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    /// Bootstraps the metrics system and serves `/metrics` on `host:port` (port 0 picks a free one) until ``stop()``.
    static func start(host: String, port: Int) async throws -> MetricsServer {
        let router = Router()
        PrometheusMetrics.addRoute(to: router)
        var logger = Logger(label: "refresher-metrics")
        logger.logLevel = .warning
        let (bound, boundContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { channel in
                boundContinuation.yield(channel.localAddress?.port ?? 0)
                boundContinuation.finish()
            },
            logger: logger
        )
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
        let task = Task {
            // A server that fails to start (port taken) must still end the wait for its port.
            defer { boundContinuation.finish() }
            try await group.run()
        }
        var ports = bound.makeAsyncIterator()
        guard let boundPort = await ports.next(), boundPort > 0 else {
            await group.triggerGracefulShutdown()
            throw CLIError("cannot serve metrics on \(host):\(port)")
        }
        return MetricsServer(port: boundPort, url: "http://\(host):\(boundPort)/metrics", group: group, task: task)
    }

    /// Stops the server; a scrape under way finishes first.
    func stop() async {
        await group.triggerGracefulShutdown()
        _ = await task.result
    }
}
