import ServiceLifecycle

/// A refresher is a swift-service-lifecycle `Service`: run it in a `ServiceGroup` and a graceful shutdown (SIGTERM,
/// SIGINT, or the group's own) shuts it down: a refresh in progress gets
/// ``RefresherConfiguration/shutdownGracePeriod`` to finish (past it, a lock whose request may be in flight is left
/// to expire, never released; one under which nothing was presented is released, owner-checked), waiting callers fail with ``RefresherError/Code/shutdown``, event streams end, and connections
/// the refresher owns are closed.
///
/// A service group shuts its services down in reverse order, so list the refresher **before** the services that use
/// it (HTTP servers, job runners): they stop first, and the refresher still serves them while they drain.
///
/// ```swift
/// let group = ServiceGroup(
///     configuration: .init(services: [refresher, apiServer], gracefulShutdownSignals: [.sigterm], logger: logger))
/// try await group.run()
/// ```
extension RedisRefresher: Service {
    /// Waits for the graceful shutdown (or cancellation), then shuts the refresher down.
    public func run() async throws {
        // Returns on graceful shutdown, throws on cancellation: the refresher shuts down either way.
        try? await gracefulShutdown()
        await shutdown(gracePeriod: configuration.shutdownGracePeriod)
    }
}
