import Histogram

extension Histogram<UInt64> {
    /// Latencies in microseconds, up to ten minutes, to three significant digits.
    static func latencies() -> Self {
        Self(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
    }

    /// Records a latency in milliseconds (negative ones as zero, longer ones than the range as its maximum).
    mutating func record(milliseconds: Double) {
        let microseconds = UInt64(Swift.min(Swift.max(0, (milliseconds * 1000).rounded()), 600_000_000))
        _ = record(microseconds)
    }

    mutating func record(_ duration: Duration) {
        record(milliseconds: duration.seconds * 1000)
    }

    /// The latency at `percentile` (0...100) in milliseconds; `nil` without samples.
    func milliseconds(atPercentile percentile: Double) -> Double? {
        totalCount == 0 ? nil : Double(valueAtPercentile(percentile)) / 1000
    }

    /// The largest latency recorded, in milliseconds; `nil` without samples.
    var maxMilliseconds: Double? {
        totalCount == 0 ? nil : Double(max) / 1000
    }
}
