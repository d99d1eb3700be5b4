import Foundation
import Histogram

extension BenchReport {
    /// The grid point the pictures show: the one with the most tasks.
    private var pictured: (processes: Int, tasks: Int)? {
        storms.max { $0.processes * $0.tasks < $1.processes * $1.tasks }.map { ($0.processes, $0.tasks) }
    }

    private func storms(_ mode: StormMode, at point: (processes: Int, tasks: Int)) -> [StormResult] {
        storms.filter { $0.mode == mode && $0.processes == point.processes && $0.tasks == point.tasks }
    }

    static func color(_ mode: StormMode) -> String {
        switch mode {
        case .pubsub: "#1f77b4"
        case .poll: "#ff7f0e"
        case .none: "#7f7f7f"
        }
    }

    /// The wake-up latency distribution per coordination mode: every run of the largest grid point together.
    var wakeUpPicture: String? {
        guard let point = pictured else { return nil }
        var series: [SVGChart.Series] = []
        var notes: [String] = []
        for mode in StormMode.allCases {
            let runs = storms(mode, at: point)
            guard !runs.isEmpty else { continue }
            var wakeups = Histogram<UInt64>.latencies()
            for run in runs { wakeups.add(run.wakeups) }
            guard wakeups.totalCount > 0 else {
                if mode == .none {
                    let refreshes = runs.map { String($0.refreshes) }.joined(separator: ", ")
                    notes.append("\(mode.rawValue): no wake-ups, every task")
                    notes.append("refreshes on its own (\(refreshes))")
                } else {
                    // A small storm can end before any task had to wait: each found the refresh already stored.
                    notes.append("\(mode.rawValue): no task waited in these runs")
                }
                continue
            }
            // The share of woken tasks resumed within each latency: 0.01 ms stands for 0 on the log scale.
            var points: [(x: Double, y: Double)] = []
            for value in wakeups.recordedValues() {
                let milliseconds = max(Double(value.value) / 1000, 0.01)
                if points.isEmpty { points.append((milliseconds, 0)) }
                points.append((milliseconds, Double(value.totalCountToThisValue) / Double(wakeups.totalCount) * 100))
            }
            series.append(
                .init(
                    name: "\(mode.rawValue): p50 \(Self.format(wakeups.milliseconds(atPercentile: 50))) ms",
                    color: Self.color(mode),
                    points: points
                )
            )
        }
        if !series.isEmpty { notes.append("(0 ms is drawn at 0.01 ms)") }
        let chart = SVGChart(
            title: "\(point.processes) processes × \(point.tasks) tasks, \(runs) run(s) per mode",
            xAxis: "wake-up latency (ms, log scale): refresh stored → waiting task resumed",
            yAxis: "woken tasks resumed (%)",
            logarithmicX: true,
            series: series,
            notes: notes
        )
        return SVGChart.document(title: "Wake-up latency per coordination mode", charts: [chart])
    }

    /// One storm per coordinated mode over time (the last run of the largest grid point): 401s seen, the one
    /// refresh, callers served.
    var timelinePicture: String? {
        guard let point = pictured else { return nil }
        let charts = [StormMode.pubsub, .poll].compactMap { mode -> SVGChart? in
            guard let storm = storms(mode, at: point).last else { return nil }
            let timeline = storm.timeline
            return SVGChart(
                title: "\(mode.rawValue): \(point.processes) × \(point.tasks), \(storm.refreshes) refresh(es)",
                xAxis: "time since the first 401 (ms)",
                yAxis: "tasks",
                series: [
                    .init(name: "401s seen", color: "#ff7f0e", points: StormTimeline.steps(timeline.unauthorized)),
                    .init(name: "callers served", color: "#2ca02c", points: StormTimeline.steps(timeline.served)),
                ],
                markers: timeline.refreshStored.map { [.init(x: $0, label: "refresh stored")] } ?? [],
                notes: ["\(storm.tasksOK) of \(storm.tasksTotal) served"]
            )
        }
        guard !charts.isEmpty else { return nil }
        return SVGChart.document(title: "A 401 storm: one refresh, every caller served", charts: charts)
    }

    /// Writes the pictures into `directory`; the files written.
    func writePictures(to directory: String) throws -> [String] {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var written: [String] = []
        for (name, picture) in [("wake-up-latency.svg", wakeUpPicture), ("storm-timeline.svg", timelinePicture)] {
            guard let picture else { continue }
            let path = (directory as NSString).appendingPathComponent(name)
            try picture.write(toFile: path, atomically: true, encoding: .utf8)
            written.append(path)
        }
        return written
    }

    private static func format(_ milliseconds: Double?) -> String {
        milliseconds.map { String(format: "%.1f", $0) } ?? "–"
    }
}
