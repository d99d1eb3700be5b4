/// A primary of a cluster, the slots it serves and its replicas, as the nodes report them.
public struct ClusterShard: Sendable, Hashable, CustomStringConvertible {
    /// The primary's data port.
    public let primaryPort: Int
    /// The data ports of its replicas that the nodes do not see as failing, in order.
    public let replicaPorts: [Int]
    /// Its slots, in order.
    public let slots: [ClosedRange<Int>]

    public init(primaryPort: Int, replicaPorts: [Int], slots: [ClosedRange<Int>]) {
        self.primaryPort = primaryPort
        self.replicaPorts = replicaPorts
        self.slots = slots
    }

    /// Whether the primary serves `slot`.
    public func contains(slot: Int) -> Bool {
        slots.contains { $0.contains(slot) }
    }

    /// Whether `port` is the primary's or one of its replicas'.
    public func contains(port: Int) -> Bool {
        primaryPort == port || replicaPorts.contains(port)
    }

    /// `primary 7000 slots 0-5460, replicas 7003`.
    public var description: String {
        "primary \(primaryPort) slots \(slots.map(\.slotText).joined(separator: ","))"
            + (replicaPorts.isEmpty ? "" : ", replicas \(replicaPorts.map(String.init).joined(separator: ","))")
    }
}
