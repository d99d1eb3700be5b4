/// One line of a `CLUSTER NODES` reply: what a node knows about one node of the cluster, itself included.
///
/// `<id> <ip:port@bus-port[,hostname]> <flags> <primary-id or -> <ping-sent> <pong-received> <config-epoch>
/// <link-state> <slot or range>...`, where the node's own line also lists its slot migrations as
/// `[slot->-target-id]` and `[slot-<-source-id]`.
struct ClusterNodeLine: Sendable, Hashable, CustomStringConvertible {
    /// The node's ID: 40 hexadecimal digits, kept across restarts in its cluster configuration file.
    let id: String
    /// Its data port; 0 while its address is unknown (flag `noaddr`).
    let port: Int
    /// Its cluster bus port.
    let busPort: Int
    /// `myself`, `master`, `slave`, `fail?`, `fail`, `handshake`, `noaddr`, `nofailover`.
    let flags: Set<String>
    /// The ID of the primary it replicates; `nil` for a primary.
    let primaryID: String?
    /// The configuration epoch of its slot claims (of its primary's, for a replica).
    let configEpoch: Int
    /// Whether the cluster bus link to it is up (always `true` on the node's own line).
    let isConnected: Bool
    /// The slots it serves, as the reply lists them.
    let slots: [ClosedRange<Int>]
    /// On the node's own line: the slots it migrates away, with the ID of the node they go to.
    let migrating: [Int: String]
    /// On the node's own line: the slots it imports, with the ID of the node they come from.
    let importing: [Int: String]

    init(_ line: some StringProtocol) throws(TopologyError) {
        let fields = line.split(separator: " ")
        guard fields.count >= 8, let epoch = Int(fields[6]) else {
            throw TopologyError("unexpected CLUSTER NODES line \"\(line)\"")
        }
        let address = fields[1].split(separator: ",", maxSplits: 1)[0]
        let ports = address.split(separator: "@", maxSplits: 1)
        guard let colon = ports[0].lastIndex(of: ":"), let port = Int(ports[0][ports[0].index(after: colon)...])
        else { throw TopologyError("unexpected address in CLUSTER NODES line \"\(line)\"") }
        id = String(fields[0])
        self.port = port
        busPort = ports.count > 1 ? Int(ports[1]) ?? 0 : 0
        flags = Set(fields[2].split(separator: ",").map { String($0) })
        primaryID = fields[3] == "-" ? nil : String(fields[3])
        configEpoch = epoch
        isConnected = fields[7] == "connected"
        var slots: [ClosedRange<Int>] = []
        var migrating: [Int: String] = [:]
        var importing: [Int: String] = [:]
        for field in fields.dropFirst(8) {
            if field.hasPrefix("[") {
                let inner = field.dropFirst().dropLast()
                if let arrow = inner.range(of: "->-"), let slot = Int(inner[..<arrow.lowerBound]) {
                    migrating[slot] = String(inner[arrow.upperBound...])
                } else if let arrow = inner.range(of: "-<-"), let slot = Int(inner[..<arrow.lowerBound]) {
                    importing[slot] = String(inner[arrow.upperBound...])
                } else {
                    throw TopologyError("unexpected slot migration \(field) in CLUSTER NODES")
                }
            } else {
                let bounds = field.split(separator: "-", maxSplits: 1).compactMap { Int($0) }
                guard let first = bounds.first, let last = bounds.last, first <= last else {
                    throw TopologyError("unexpected slots \(field) in CLUSTER NODES")
                }
                slots.append(first...last)
            }
        }
        self.slots = slots
        self.migrating = migrating
        self.importing = importing
    }

    var isMyself: Bool { flags.contains("myself") }
    var isPrimary: Bool { flags.contains("master") }
    var isReplica: Bool { flags.contains("slave") }

    /// Whether the node that sent the line sees this one as reachable and fully known: not failing (`fail?`,
    /// `fail`), not in a handshake, its address known, and the bus link up.
    var isHealthy: Bool {
        flags.isDisjoint(with: ["fail?", "fail", "handshake", "noaddr"]) && isConnected
    }

    /// The role as the other nodes must agree on it: `primary`, or `replica of <id>`.
    var roleText: String { isPrimary ? "primary" : "replica of \(primaryID ?? "?")" }

    /// Port, flags, role, epoch, link and slots (the ID shortened).
    var description: String {
        let slotText = slots.map(\.slotText).joined(separator: ",")
        return "\(port) \(id.prefix(8)) [\(flags.sorted().joined(separator: ","))] epoch \(configEpoch)"
            + (isConnected ? "" : " disconnected") + (slotText.isEmpty ? "" : " slots \(slotText)")
    }
}
