import Testing

/// The parent of every suite in this target. Its tests run one at a time: many of them measure real time (token
/// lifetimes, refreshes ahead of expiry, timeouts), and the package's other suites already load the machine with
/// worker fleets, so running these side by side would only make both flaky.
@Suite(.serialized)
enum HTTPIntegration {}
