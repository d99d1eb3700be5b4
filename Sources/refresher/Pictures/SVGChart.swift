import Foundation

/// A line chart as plain SVG text: a title, axes with units, a legend, lines and labelled vertical markers. Several
/// charts stack into one picture with ``document(title:charts:)``.
struct SVGChart {
    struct Series {
        var name: String
        var color: String
        var points: [(x: Double, y: Double)]
    }

    /// A vertical line; one without a label is drawn without text.
    struct Marker {
        var x: Double
        var label: String
    }

    var title: String
    /// The axis titles, with their units.
    var xAxis: String
    var yAxis: String
    var logarithmicX = false
    var series: [Series]
    var markers: [Marker] = []
    /// Lines of text under the legend.
    var notes: [String] = []

    static let width = 860.0
    static let height = 300.0
    private static let plot = (left: 70.0, top: 40.0, width: 520.0, height: 210.0)

    /// One SVG document with the charts one above the other.
    static func document(title: String, charts: [SVGChart]) -> String {
        let totalHeight = 40 + height * Double(charts.count)
        var body = [
            ##"<svg xmlns="http://www.w3.org/2000/svg" width="\##(Int(width))" height="\##(Int(totalHeight))" "##
                + ##"viewBox="0 0 \##(Int(width)) \##(Int(totalHeight))" font-family="sans-serif" font-size="12">"##,
            ##"<rect width="100%" height="100%" fill="white"/>"##,
            ##"<text x="\##(Int(width / 2))" y="24" text-anchor="middle" font-size="16" font-weight="bold">"##
                + "\(escape(title))</text>",
        ]
        for (index, chart) in charts.enumerated() {
            body.append(##"<g transform="translate(0,\##(Int(40 + height * Double(index))))">"##)
            body += chart.elements()
            body.append("</g>")
        }
        body.append("</svg>")
        return body.joined(separator: "\n") + "\n"
    }

    private func elements() -> [String] {
        let plot = Self.plot
        let allX = series.flatMap { $0.points.map(\.x) } + markers.map(\.x)
        let allY = series.flatMap { $0.points.map(\.y) }
        let xTicks =
            logarithmicX
            ? Self.decades(allX.filter { $0 > 0 }) : Self.niceTicks(upTo: allX.max() ?? 1)
        let yTicks = Self.niceTicks(upTo: allY.max() ?? 1)
        let xLow = xTicks.first ?? 0
        let xHigh = xTicks.last ?? 1
        let yHigh = yTicks.last ?? 1
        func px(_ x: Double) -> Double {
            let fraction =
                logarithmicX
                ? (log10(Swift.max(x, xLow)) - log10(xLow)) / (log10(xHigh) - log10(xLow))
                : (x - xLow) / Swift.max(xHigh - xLow, .ulpOfOne)
            return plot.left + Swift.min(Swift.max(fraction, 0), 1) * plot.width
        }
        func py(_ y: Double) -> Double { plot.top + plot.height - y / Swift.max(yHigh, .ulpOfOne) * plot.height }
        func f(_ value: Double) -> String { String(format: "%.1f", value) }

        var out = [
            ##"<text x="\##(f(plot.left))" y="24" font-size="14" font-weight="bold">\##(Self.escape(title))</text>"##
        ]
        // Grid and tick labels.
        for tick in yTicks {
            out.append(
                ##"<line x1="\##(f(plot.left))" y1="\##(f(py(tick)))" x2="\##(f(plot.left + plot.width))" y2="\##(f(py(tick)))" stroke="#e5e5e5"/>"##
            )
            out.append(
                ##"<text x="\##(f(plot.left - 6))" y="\##(f(py(tick) + 4))" text-anchor="end">\##(Self.label(tick))</text>"##
            )
        }
        for tick in xTicks {
            out.append(
                ##"<line x1="\##(f(px(tick)))" y1="\##(f(plot.top))" x2="\##(f(px(tick)))" y2="\##(f(plot.top + plot.height))" stroke="#e5e5e5"/>"##
            )
            out.append(
                ##"<text x="\##(f(px(tick)))" y="\##(f(plot.top + plot.height + 16))" text-anchor="middle">\##(Self.label(tick))</text>"##
            )
        }
        // Axes and their titles.
        out.append(
            ##"<path d="M\##(f(plot.left)),\##(f(plot.top)) V\##(f(plot.top + plot.height)) H\##(f(plot.left + plot.width))" fill="none" stroke="#333"/>"##
        )
        out.append(
            ##"<text x="\##(f(plot.left + plot.width / 2))" y="\##(f(plot.top + plot.height + 34))" text-anchor="middle">\##(Self.escape(xAxis))</text>"##
        )
        out.append(
            ##"<text transform="translate(18,\##(f(plot.top + plot.height / 2))) rotate(-90)" text-anchor="middle">\##(Self.escape(yAxis))</text>"##
        )
        // Markers, then the lines over them.
        for marker in markers {
            out.append(
                ##"<line x1="\##(f(px(marker.x)))" y1="\##(f(plot.top))" x2="\##(f(px(marker.x)))" y2="\##(f(plot.top + plot.height))" stroke="#d62728" stroke-dasharray="4 3"/>"##
            )
            guard !marker.label.isEmpty else { continue }
            out.append(
                ##"<text x="\##(f(px(marker.x) + 4))" y="\##(f(plot.top + 12))" fill="#d62728">\##(Self.escape(marker.label))</text>"##
            )
        }
        for line in series where !line.points.isEmpty {
            let points = line.points.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
            out.append(
                ##"<polyline points="\##(points)" fill="none" stroke="\##(line.color)" stroke-width="2"><title>\##(Self.escape(line.name))</title></polyline>"##
            )
        }
        // Legend.
        var y = plot.top + 6
        let legendX = plot.left + plot.width + 20
        for line in series {
            out.append(
                ##"<line x1="\##(f(legendX))" y1="\##(f(y))" x2="\##(f(legendX + 18))" y2="\##(f(y))" stroke="\##(line.color)" stroke-width="3"/>"##
            )
            out.append(##"<text x="\##(f(legendX + 24))" y="\##(f(y + 4))">\##(Self.escape(line.name))</text>"##)
            y += 18
        }
        for note in notes {
            y += 4
            out.append(##"<text x="\##(f(legendX))" y="\##(f(y + 4))" fill="#555">\##(Self.escape(note))</text>"##)
            y += 14
        }
        return out
    }

    /// 0 and round steps (1, 2 or 5 × 10ⁿ) up to at least `maximum`.
    static func niceTicks(upTo maximum: Double) -> [Double] {
        let top = Swift.max(maximum, 1e-9)
        let raw = top / 5
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? magnitude * 10
        let count = Int((top / step).rounded(.up))
        return (0...Swift.max(count, 1)).map { Double($0) * step }
    }

    /// Powers of ten around the values.
    static func decades(_ values: [Double]) -> [Double] {
        guard let low = values.min(), let high = values.max() else { return [0.1, 1, 10] }
        let first = Int(floor(log10(low)))
        let last = Swift.max(Int(ceil(log10(high))), first + 1)
        return (first...last).map { pow(10, Double($0)) }
    }

    static func label(_ value: Double) -> String {
        if value == 0 { return "0" }
        if value >= 1, value == value.rounded() { return String(format: "%.0f", value) }
        return String(format: "%g", value)
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
