/// What one node answers to `CLUSTER NODES`: a line for every node it knows, itself included.
struct ClusterView: Sendable, Hashable {
    let lines: [ClusterNodeLine]

    init(lines: [ClusterNodeLine]) {
        self.lines = lines
    }

    /// Parses a `CLUSTER NODES` reply.
    init(_ text: String) throws(TopologyError) {
        lines = try text.split(whereSeparator: \.isNewline).filter { !$0.isEmpty }.map {
            line throws(TopologyError) in try ClusterNodeLine(line)
        }
    }

    /// The node's own line.
    var myself: ClusterNodeLine? { lines.first { $0.isMyself } }

    func line(id: String) -> ClusterNodeLine? { lines.first { $0.id == id } }

    func line(port: Int) -> ClusterNodeLine? { lines.first { $0.port == port } }

    /// Who serves which slots, by data port: ranges in slot order, adjacent ranges of one node merged.
    var slotOwners: [SlotOwner] {
        var owners: [SlotOwner] = []
        for (range, port) in lines.flatMap({ line in line.slots.map { ($0, line.port) } }).sorted(by: {
            $0.0.lowerBound < $1.0.lowerBound
        }) {
            if let last = owners.last, last.port == port, last.slots.upperBound + 1 == range.lowerBound {
                owners[owners.count - 1] = SlotOwner(slots: last.slots.lowerBound...range.upperBound, port: port)
            } else {
                owners.append(SlotOwner(slots: range, port: port))
            }
        }
        return owners
    }

    /// The line of the node that serves `slot`.
    func owner(ofSlot slot: Int) -> ClusterNodeLine? {
        lines.first { line in line.slots.contains { $0.contains(slot) } }
    }

    /// The shards as this node sees them: each primary with its slots and the replicas it sees as not failing,
    /// ordered by first slot; primaries without slots last, by port, those it sees failing left out (a crashed
    /// primary whose replica took over).
    var shards: [ClusterShard] {
        let primaries = lines.filter {
            $0.isPrimary && (!$0.slots.isEmpty || $0.flags.isDisjoint(with: ["fail", "fail?"]))
        }
        return primaries.map { primary in
            let replicas = lines.filter {
                $0.isReplica && $0.primaryID == primary.id && $0.flags.isDisjoint(with: ["fail", "fail?"])
            }
            return ClusterShard(
                primaryPort: primary.port,
                replicaPorts: replicas.map(\.port).sorted(),
                slots: primary.slots.sorted { $0.lowerBound < $1.lowerBound }
            )
        }.sorted {
            ($0.slots.first?.lowerBound ?? Int.max, $0.primaryPort) < (
                $1.slots.first?.lowerBound ?? Int.max, $1.primaryPort
            )
        }
    }
}
