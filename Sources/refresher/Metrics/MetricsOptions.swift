import ArgumentParser

/// Where a process serves its Prometheus `/metrics` endpoint: `--metrics-port` or `METRICS_PORT` turns it on.
struct MetricsOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Serve Prometheus metrics at http://HOST:PORT/metrics, 0 picking a free port ($METRICS_PORT; off by default).",
            valueName: "port"
        )
    )
    var metricsPort: Int?

    @Option(
        help: ArgumentHelp(
            "The address the metrics endpoint listens on ($METRICS_HOST, default 127.0.0.1; 0.0.0.0 for every interface).",
            valueName: "host"
        )
    )
    var metricsHost: String?

    static let portVariable = "METRICS_PORT"
    static let hostVariable = "METRICS_HOST"

    /// The address to serve on; `nil` when metrics are off.
    func address() throws -> (host: String, port: Int)? {
        guard let port = try Environment.int(metricsPort, Self.portVariable) else { return nil }
        guard (0...65535).contains(port) else { throw CLIError("\(Self.portVariable) must be in 0...65535") }
        return (Environment.string(metricsHost, Self.hostVariable) ?? "127.0.0.1", port)
    }
}
