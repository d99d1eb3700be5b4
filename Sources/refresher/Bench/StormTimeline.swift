/// One storm over time, in milliseconds since its first 401: when each task saw its 401, when the refresh was
/// stored, when each task was served.
struct StormTimeline: Sendable {
    var unauthorized: [Double] = []
    var served: [Double] = []
    var refreshStored: Double?

    init() {}

    init(_ lines: [StormLine], refreshStored stored: Double?) {
        guard let origin = lines.compactMap(\.t401).min() else { return }
        unauthorized = lines.compactMap(\.t401).map { ($0 - origin) * 1000 }.sorted()
        served = lines.compactMap(\.tOK).map { ($0 - origin) * 1000 }.sorted()
        refreshStored = stored.map { ($0 - origin) * 1000 }
    }

    /// How many of `times` (sorted) have passed, as a step line from zero.
    static func steps(_ times: [Double]) -> [(x: Double, y: Double)] {
        var points: [(x: Double, y: Double)] = [(0, 0)]
        for (index, time) in times.enumerated() {
            points.append((time, Double(index)))
            points.append((time, Double(index + 1)))
        }
        return points
    }
}
