import DemoIdentityProvider

/// The demo run over time, sampled from the identity provider's counters, for `--timeline`.
struct DemoTimeline {
    private var served: [(x: Double, y: Double)] = []
    private var unauthorized: [(x: Double, y: Double)] = []
    private var refreshes: [Double] = []
    private var lastRefreshes = 0

    /// Records the counters at `seconds` since the fleet's start.
    mutating func sample(at seconds: Double, _ stats: DemoIdentityProvider.Stats) {
        let seconds = max(0, seconds)
        served.append((seconds, Double(stats.resourceOK)))
        unauthorized.append((seconds, Double(stats.resource401)))
        if stats.refreshes > lastRefreshes {
            refreshes += Array(repeating: seconds, count: stats.refreshes - lastRefreshes)
            lastRefreshes = stats.refreshes
        }
    }

    /// Requests served and 401 responses over time, each refresh marked, and the failover if there was one.
    func picture(processes: Int, tasks: Int, coordination: String, failoverAt: Double? = nil) -> String {
        // Only the first refresh is labelled: the fleet without coordination refreshes dozens of times.
        let markers =
            refreshes.enumerated().map { index, time in
                SVGChart.Marker(x: time, label: index == 0 ? "refresh" : "")
            } + (failoverAt.map { [SVGChart.Marker(x: $0, label: "failover")] } ?? [])
        let note = "\(refreshes.count) refresh(es)"
        return SVGChart.document(
            title: "refresher demo: \(processes) processes × \(tasks) tasks, coordination \(coordination)",
            charts: [
                SVGChart(
                    title: "Requests served",
                    xAxis: "time since the fleet's start (s)",
                    yAxis: "requests (total)",
                    series: [.init(name: "requests served", color: "#2ca02c", points: served)],
                    markers: markers,
                    notes: [note]
                ),
                SVGChart(
                    title: "401 responses",
                    xAxis: "time since the fleet's start (s)",
                    yAxis: "401 responses (total)",
                    series: [.init(name: "401s seen", color: "#ff7f0e", points: unauthorized)],
                    markers: markers,
                    notes: [note]
                ),
            ]
        )
    }
}
