/// A range of slots and the data port of the node that serves it.
struct SlotOwner: Sendable, Hashable, CustomStringConvertible {
    let slots: ClosedRange<Int>
    let port: Int

    var description: String { "\(slots.slotText)@\(port)" }
}
