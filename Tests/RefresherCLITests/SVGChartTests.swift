import Foundation
import Testing

@testable import refresher

/// The chart drawing on its own, without a run.
@Suite("SVG charts")
struct SVGChartTests {
    @Test("Axis ticks are round numbers from zero that reach the largest value")
    func niceTicks() {
        #expect(SVGChart.niceTicks(upTo: 128) == [0, 50, 100, 150])
        #expect(SVGChart.niceTicks(upTo: 7) == [0, 2, 4, 6, 8])
        #expect(SVGChart.niceTicks(upTo: 1000) == [0, 200, 400, 600, 800, 1000])
        #expect(SVGChart.decades([0.02, 850]) == [0.01, 0.1, 1, 10, 100, 1000])
    }

    @Test("Titles and labels are escaped: the document stays well-formed")
    func escaping() throws {
        let chart = SVGChart(
            title: "a < b & \"c\"",
            xAxis: "x (ms)",
            yAxis: "y",
            series: [.init(name: "s", color: "#000", points: [(0, 0), (1, 2)])],
            markers: [.init(x: 0.5, label: "m>n")]
        )
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("chart-\(UUID().uuidString).svg")
        defer { try? FileManager.default.removeItem(at: path) }
        try SVGChart.document(title: "t & t", charts: [chart]).write(to: path, atomically: true, encoding: .utf8)
        let written = try WrittenSVG(path: path.path)
        #expect(written.texts.contains("a < b & \"c\""))
        #expect(written.texts.contains("m>n"))
        #expect(written.polylines == 1)
    }
}
