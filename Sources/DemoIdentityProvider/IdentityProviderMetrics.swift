import CoreMetrics
import Metrics

/// The provider's counters as swift-metrics, created once from `MetricsSystem.factory` (no-ops unless the process
/// bootstraps a metrics backend), so a fleet's refreshes can be compared with the provider's in one scrape.
///
/// - `demo_idp_logins`, `demo_idp_refreshes`, `demo_idp_rejected_refreshes`: counters of ``DemoIdentityProvider/Stats``.
/// - `demo_idp_refresh_token_reuse`: used refresh tokens presented again (each revoked the session).
/// - `demo_idp_resource_requests` with `status` `200` or `401`, and `demo_idp_token_expiries`.
/// - `demo_idp_session_revoked`: a gauge, 1 while the session is revoked.
struct IdentityProviderMetrics: Sendable {
    let logins = Counter(label: "demo_idp_logins")
    let refreshes = Counter(label: "demo_idp_refreshes")
    let rejectedRefreshes = Counter(label: "demo_idp_rejected_refreshes")
    let reuseEvents = Counter(label: "demo_idp_refresh_token_reuse")
    let resourceOK = Counter(label: "demo_idp_resource_requests", dimensions: [("status", "200")])
    let resourceUnauthorized = Counter(label: "demo_idp_resource_requests", dimensions: [("status", "401")])
    let expiries = Counter(label: "demo_idp_token_expiries")
    let revoked = Gauge(label: "demo_idp_session_revoked")
}
