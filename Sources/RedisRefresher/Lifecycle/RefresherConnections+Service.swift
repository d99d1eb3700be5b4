import ServiceLifecycle

/// Shared connections are a swift-service-lifecycle `Service` too: on graceful shutdown (or cancellation) every
/// refresher using them shuts down (see ``RedisRefresher/shutdown(gracePeriod:)``) and the connections close.
/// List them before the refreshers' users in a `ServiceGroup`, so they stop last.
extension RefresherConnections: Service {
    /// Waits for the graceful shutdown (or cancellation), then shuts down every refresher using these connections
    /// (5 s grace period each) and closes them.
    public func run() async throws {
        try? await gracefulShutdown()
        await shutdown()
    }
}
