extension ClosedRange<Int> {
    /// `a-b`, or `a` for one slot.
    var slotText: String { lowerBound == upperBound ? "\(lowerBound)" : "\(lowerBound)-\(upperBound)" }
}
