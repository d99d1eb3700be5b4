import Testing

@testable import RedisTopology

/// What the cluster topology writes, parses and computes, without a server.
@Suite("Cluster configuration, replies and hash slots")
struct ClusterConfigurationTests {
    @Test func hashSlotsFollowCRC16AndHashTags() {
        // The check value of CRC16/XMODEM, and the examples of the Redis Cluster specification.
        #expect(ClusterTopology.slot(forKey: "123456789") == 0x31C3 % 16384)
        #expect(ClusterTopology.slot(forKey: "foo") == 12182)
        #expect(ClusterTopology.slot(forKey: "{user1000}.following") == ClusterTopology.slot(forKey: "user1000"))
        #expect(ClusterTopology.slot(forKey: "foo{}{bar}") == ClusterTopology.slot(forKey: "foo{}{bar}"))
        #expect(ClusterTopology.slot(forKey: "foo{{bar}}zap") == ClusterTopology.slot(forKey: "{bar"))
        #expect(ClusterTopology.slot(forKey: "foo{bar}{zap}") == ClusterTopology.slot(forKey: "bar"))
        #expect(ClusterTopology.slot(forKey: "a{b}c") == ClusterTopology.slot(forKey: "b"))
        #expect(ClusterTopology.slot(forKey: "") == 0)
    }

    @Test func slotsAreSplitEvenly() {
        #expect(
            (0..<3).map { ClusterTopology.slotRange(ofPrimary: $0, of: 3) } == [0...5460, 5461...10921, 10922...16383]
        )
        #expect(ClusterTopology.slotRange(ofPrimary: 0, of: 1) == 0...16383)
        let ranges = (0..<7).map { ClusterTopology.slotRange(ofPrimary: $0, of: 7) }
        #expect(ranges.map(\.count).reduce(0, +) == 16384)
        #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound + 1 == $1.lowerBound })
    }

    @Test func nodeConfigurationMakesAClusterNode() {
        let options = ClusterTopology.Options(
            nodeTimeout: .milliseconds(750),
            password: "pw",
            configuration: ["maxmemory 10mb"]
        )
        let lines = ClusterTopology.nodeConfiguration(options, port: 7000, busPort: 7100, directory: "/tmp/a b")
        #expect(lines.contains("cluster-enabled yes"))
        #expect(lines.contains("cluster-config-file \"/tmp/a b/cluster-nodes-7000.conf\""))
        #expect(lines.contains("cluster-port 7100"))
        #expect(lines.contains("cluster-node-timeout 750"))
        #expect(lines.contains("cluster-replica-validity-factor 0"))
        #expect(lines.contains("cluster-allow-replica-migration no"))
        #expect(lines.last == "maxmemory 10mb")
        #expect(!lines.joined().contains("pw"))
        #expect(
            "\(options)"
                == "3 primaries, 1 replicas each, node timeout 0.75 seconds, 1 configuration lines, password ***"
        )
        #expect(!String(reflecting: options).contains("pw"))
    }

    @Test func clusterNodesRepliesAreParsed() throws {
        let a = String(repeating: "a", count: 40)
        let b = String(repeating: "b", count: 40)
        let c = String(repeating: "c", count: 40)
        let d = String(repeating: "d", count: 40)
        let text = """
            \(a) 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460 5462 [5461->-\(b)] [7000-<-\(c)]
            \(b) 127.0.0.1:7001@17001,host.example master - 0 1700000000000 7 connected 5461 5463-16383
            \(c) 127.0.0.1:7002@17002 slave,fail \(a) 1700000000000 1700000000000 1 disconnected
            \(d) 127.0.0.1:7003@17003 master,fail - 1700000000000 1700000000000 3 disconnected
            """
        let view = try ClusterView(text)
        let myself = try #require(view.myself)
        #expect(myself.port == 7000)
        #expect(myself.busPort == 17000)
        #expect(myself.slots == [0...5460, 5462...5462])
        #expect(myself.migrating == [5461: b])
        #expect(myself.importing == [7000: c])
        #expect(myself.isHealthy)
        let other = try #require(view.line(id: b))
        #expect(other.configEpoch == 7)
        #expect(other.isPrimary)
        let replica = try #require(view.line(port: 7002))
        #expect(replica.isReplica && replica.primaryID == a && !replica.isHealthy)
        #expect(view.owner(ofSlot: 5461)?.port == 7001)
        #expect(view.slotOwners.map(\.description) == ["0-5460@7000", "5461@7001", "5462@7000", "5463-16383@7001"])
        // A failing replica is left out of its shard, a failing primary without slots (replaced) of the shards.
        #expect(
            view.shards == [
                ClusterShard(primaryPort: 7000, replicaPorts: [], slots: [0...5460, 5462...5462]),
                ClusterShard(primaryPort: 7001, replicaPorts: [], slots: [5461...5461, 5463...16383]),
            ]
        )
        let noAddress = try ClusterNodeLine("\(c) :0@0 master,fail?,noaddr - 1 1 0 disconnected")
        #expect(noAddress.port == 0 && !noAddress.isHealthy)
        #expect(throws: TopologyError.self) { try ClusterNodeLine("\(a) 127.0.0.1:7000@17000 master") }
        #expect(throws: TopologyError.self) {
            try ClusterNodeLine("\(a) 127.0.0.1:7000@17000 master - 0 0 1 connected 9-3")
        }
    }
}
