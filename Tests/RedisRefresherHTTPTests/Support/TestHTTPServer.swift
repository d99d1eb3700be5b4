import Hummingbird
import Logging
import ServiceLifecycle

/// A real HTTP server (Hummingbird) on a free loopback port, for the HTTP tests.
struct TestHTTPServer: Sendable {
    /// `http://127.0.0.1:<port>`.
    let url: String
    let port: Int
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    /// Serves `router` until ``stop()``.
    static func start(_ router: Router<BasicRequestContext>) async throws -> TestHTTPServer {
        var logger = Logger(label: "test-http-server")
        logger.logLevel = .critical
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: nil),
            onServerRunning: { channel in
                continuation.yield(channel.localAddress?.port ?? 0)
                continuation.finish()
            },
            logger: logger
        )
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
        let task = Task {
            defer { continuation.finish() }
            try await group.run()
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else {
            await group.triggerGracefulShutdown()
            throw HTTPTestError("the test HTTP server did not start")
        }
        return TestHTTPServer(url: "http://127.0.0.1:\(port)", port: port, group: group, task: task)
    }

    /// Stops the server and waits until it is down.
    func stop() async {
        await group.triggerGracefulShutdown()
        _ = await task.result
    }
}

/// A failure of the HTTP test scaffolding.
struct HTTPTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
