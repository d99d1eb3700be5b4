import Testing

/// The parent of the suites of the refresher's features (event stream, lifecycle, metrics, logging, refresh ahead).
/// Its tests run one at a time: many of them measure real time (token lifetimes, wake-up latencies, grace periods),
/// and the package's other suites already load the machine with worker fleets.
@Suite(.serialized)
enum RefresherFeatures {}
