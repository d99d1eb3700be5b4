import Hummingbird
import Metrics
import Prometheus

/// This process's swift-metrics in Prometheus's text format.
///
/// `MetricsSystem` may be bootstrapped once per process: ``registry`` does it the first time it is used, so every
/// caller (a worker's endpoint, the identity provider's route) shares the one bootstrap. Metrics created before it
/// (a refresher made earlier) stay no-ops: bootstrap before creating what reports.
enum PrometheusMetrics {
    /// The registry behind `MetricsSystem.factory`.
    static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()

    /// Makes `MetricsSystem` report to ``registry`` from now on.
    static func bootstrap() { _ = registry }

    /// The media type of Prometheus's text exposition format.
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// Adds `GET /metrics` to `router` (and bootstraps, if nothing did yet).
    static func addRoute<Context: RequestContext>(to router: Router<Context>) {
        bootstrap()
        router.get("/metrics") { _, _ -> Response in
            Response(
                status: .ok,
                headers: [.contentType: contentType],
                body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer()))
            )
        }
    }
}
