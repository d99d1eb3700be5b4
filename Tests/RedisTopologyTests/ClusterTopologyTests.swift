import Foundation
import RedisClient
import RedisTopology
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Real clusters on loopback: each test starts its own nodes on ports of its own, so the tests run side by side.
/// A cluster is stable about 2 s after its start (Redis holds a fresh primary back that long); a crashed primary is
/// replaced 2-3 s after the kill with the 1 s node timeout.
@Suite("Cluster topologies", .timeLimit(.minutes(2)))
struct ClusterTopologyTests {
    @Test func startsStableWithReplicasSynchronised() async throws {
        try await ClusterTopology.with { cluster in
            #expect(cluster.nodes.count == 6)
            #expect(cluster.startDuration > .zero)
            let primaries = cluster.nodes.prefix(3).map(\.port)
            let shards = try await cluster.shards()
            #expect(shards.map(\.primaryPort) == primaries)
            #expect(shards.map(\.replicaPorts) == cluster.nodes.dropFirst(3).map { [$0.port] })
            #expect(shards.map(\.slots) == [[0...5460], [5461...10921], [10922...16383]])
            #expect(try await cluster.primaryPorts == primaries)
            for node in cluster.nodes {
                #expect(try await cluster.clusterState(port: node.port) == "ok")
                let info = try #require(try await node.send("CLUSTER", "INFO").string)
                #expect(info.contains("cluster_known_nodes:6"))
                #expect(info.contains("cluster_size:3"))
            }
            for (index, replica) in cluster.nodes.dropFirst(3).enumerated() {
                let primary = cluster.nodes[index]
                #expect(try await replica.role() == .replica(of: primary.address, linkUp: true))
                #expect(try await primary.role() == .primary(replicas: [replica.address]))
            }
            // Every node has a bus port of its own, not the data port + 10000.
            let myself = try #require(try await cluster.nodes[0].send("CLUSTER", "NODES").string).split(
                separator: "\n"
            ).first { $0.contains("myself") }
            #expect(myself?.contains("127.0.0.1:\(primaries[0])@\(primaries[0] + 10000) ") == false)
            #expect(cluster.nodeID(port: primaries[0]).map { myself?.hasPrefix($0) } == true)

            let hosts = primaries.map { "127.0.0.1:\($0)" }.joined(separator: ",")
            #expect(cluster.seedURL == "redis-cluster://\(hosts)")
            #expect(cluster.nodeURL(port: primaries[1]) == "redis://127.0.0.1:\(primaries[1])")
            #expect(try await cluster.primaryPort(forSlot: 0) == primaries[0])
            #expect(try await cluster.primaryPort(forSlot: 5461) == primaries[1])
            #expect(try await cluster.primaryPort(forSlot: 16383) == primaries[2])
        }
    }

    @Test func slotForKeyIsWhatTheServerComputes() async throws {
        // A bus port of its own: the default, the data port + 10000, may be another test's.
        let node = try RedisNodeProcess(configuration: [
            "cluster-enabled yes", "cluster-port \(try LoopbackPort.free())",
        ])
        try await node.start()
        var keys = ["", "foo", "{a}b", "{}x", "{", "}", "{}", "{{a}}", "a{b}c{d}", "{user1}:session", "x{", "ü{ß}"]
        keys += (0..<500).map { "key:\($0):\(UUID().uuidString)" }
        let replies = try await node.connection().pipeline(keys.map { RedisCommand("CLUSTER", "KEYSLOT", .init($0)) })
        for (key, reply) in zip(keys, replies) {
            #expect(try reply.get().int.map(Int.init) == ClusterTopology.slot(forKey: key), "key \(key)")
        }
        let binary: [UInt8] = [0xff, 0x00, UInt8(ascii: "{"), 0x80, UInt8(ascii: "}")]
        let reply = try await node.send("CLUSTER", "KEYSLOT", .init(binary))
        #expect(reply.int.map(Int.init) == ClusterTopology.slot(forKey: binary))
        await node.shutdown()
    }

    @Test func aMigratedSlotIsMovedAwayFromItsOldOwner() async throws {
        try await ClusterTopology.with(.init(replicasPerPrimary: 0)) { cluster in
            let keys = (0..<150).map { "{migrated}:\($0)" }
            let slot = ClusterTopology.slot(forKey: keys[0])
            let source = try #require(cluster.node(port: try await cluster.primaryPort(forSlot: slot)))
            for key in keys { try await source.send("SET", .init(key), "value") }
            let target = try #require(try await cluster.primaryPorts.first { $0 != source.port })

            try await cluster.migrate(slot: slot, to: target)
            #expect(try await cluster.primaryPort(forSlot: slot) == target)
            await expectRedirection("MOVED \(slot) 127.0.0.1:\(target)") {
                try await source.send("GET", "{migrated}:7")
            }
            let targetNode = try #require(cluster.node(port: target))
            // All 150 keys went, in more than one round of CLUSTER GETKEYSINSLOT.
            #expect(try await targetNode.send("CLUSTER", "COUNTKEYSINSLOT", .init(slot)) == .integer(150))
            #expect(try await targetNode.send("GET", "{migrated}:149") == .bulk(Array("value".utf8)))
            // The other primary learned the new owner too.
            let other = try #require(cluster.nodes.prefix(3).first { $0.port != source.port && $0.port != target })
            await expectRedirection("MOVED \(slot) 127.0.0.1:\(target)") {
                try await other.send("GET", "{migrated}:1")
            }
            try await cluster.waitUntilStable()
            // Migrating to the owner does nothing.
            try await cluster.migrate(slot: slot, to: target)
            #expect(try await cluster.primaryPort(forSlot: slot) == target)
        }
    }

    @Test func aBegunMigrationAnswersAskForAMovedKey() async throws {
        try await ClusterTopology.with(.init(replicasPerPrimary: 0)) { cluster in
            let slot = ClusterTopology.slot(forKey: "{ask}:moved")
            let source = try #require(cluster.node(port: try await cluster.primaryPort(forSlot: slot)))
            try await source.send("SET", "{ask}:moved", "moved")
            try await source.send("SET", "{ask}:stays", "stays")
            let targetPort = try #require(try await cluster.primaryPorts.first { $0 != source.port })
            let target = try #require(cluster.node(port: targetPort))

            try await cluster.beginMigration(slot: slot, to: targetPort)
            try await cluster.migrateKeys(slot: slot, to: targetPort, keys: ["{ask}:moved"])
            await expectRedirection("ASK \(slot) 127.0.0.1:\(targetPort)") {
                try await source.send("GET", "{ask}:moved")
            }
            #expect(try await source.send("GET", "{ask}:stays") == .bulk(Array("stays".utf8)))
            // The new owner serves the key after ASKING only, and redirects otherwise.
            await expectRedirection("MOVED \(slot) 127.0.0.1:\(source.port)") {
                try await target.send("GET", "{ask}:moved")
            }
            let connection = try RedisConnection(url: cluster.nodeURL(port: targetPort))
            #expect(try await connection.send("ASKING") == .status("OK"))
            #expect(try await connection.send("GET", "{ask}:moved") == .bulk(Array("moved".utf8)))
            connection.close()
            await #expect(throws: TopologyError.self) {
                try await cluster.migrateKeys(slot: slot, to: targetPort, keys: ["not-in-the-slot"])
            }

            try await cluster.finishMigration(slot: slot, to: targetPort)
            #expect(try await cluster.primaryPort(forSlot: slot) == targetPort)
            #expect(try await target.send("GET", "{ask}:stays") == .bulk(Array("stays".utf8)))
            await expectRedirection("MOVED \(slot) 127.0.0.1:\(targetPort)") {
                try await source.send("GET", "{ask}:stays")
            }
        }
    }

    @Test func failoverSwapsThePrimaryAndItsReplica() async throws {
        try await ClusterTopology.with { cluster in
            let old = cluster.nodes[0]
            let replica = cluster.nodes[3]
            let key = try #require(
                (0..<1000).map { "failover:\($0)" }.first { ClusterTopology.slot(forKey: $0) < 5461 }
            )
            try await old.send("SET", .init(key), "value")
            #expect(try await old.send("WAIT", 1, 1000) == .integer(1))

            #expect(try await cluster.failover(shardOf: old.port) == replica.port)
            #expect(try await cluster.primaryPorts == [replica.port] + cluster.nodes[1..<3].map(\.port))
            #expect(try await replica.role().isPrimary)
            #expect(try await old.role() == .replica(of: replica.address, linkUp: true))
            #expect(try await replica.send("GET", .init(key)) == .bulk(Array("value".utf8)))
            await expectRedirection("MOVED") { try await old.send("GET", .init(key)) }

            // And back, named by the replica's port this time.
            #expect(try await cluster.failover(shardOf: old.port) == old.port)
            #expect(try await cluster.primaryPorts == cluster.nodes.prefix(3).map(\.port))
        }
    }

    @Test func aCrashedPrimaryIsReplacedAndRejoinsAsAReplica() async throws {
        try await ClusterTopology.with { cluster in
            let crashed = cluster.nodes[1]
            let replica = cluster.nodes[4]
            try await cluster.crashPrimary(port: crashed.port)
            #expect(!crashed.isRunning)
            #expect(try await cluster.waitForNewPrimary(replacing: crashed.port, timeout: .seconds(20)) == replica.port)
            #expect(try await cluster.primaryPort(forSlot: 5461) == replica.port)
            // The crashed node, which the others list as a failing primary without slots, is none.
            #expect(try await cluster.primaryPorts == [cluster.nodes[0].port, replica.port, cluster.nodes[2].port])
            for node in cluster.nodes where node.isRunning {
                #expect(try await cluster.clusterState(port: node.port) == "ok")
            }

            try await cluster.restart(port: crashed.port)
            #expect(try await crashed.role() == .replica(of: replica.address, linkUp: true))
            let shards = try await cluster.waitUntilStable()
            #expect(shards[1].primaryPort == replica.port)
            #expect(shards[1].replicaPorts == [crashed.port])
            await #expect(throws: TopologyError.self) { try await cluster.crashPrimary(port: crashed.port) }
        }
    }

    @Test func aStoppedShardTakesTheClusterDownUntilItIsBack() async throws {
        try await ClusterTopology.with(.init(replicasPerPrimary: 0)) { cluster in
            let stopped = cluster.nodes[2]
            let survivor = cluster.nodes[0]
            #expect(try await cluster.stopShard(of: stopped.port) == [stopped.port])
            #expect(try await cluster.clusterState(port: survivor.port) == "fail")
            do {
                try await survivor.send("SET", "{survivor}", "value")
                Issue.record("a command succeeded while a shard was down")
            } catch {
                #expect((error as? RedisError)?.serverErrorPrefix == "CLUSTERDOWN")
            }

            try await cluster.restart(ports: [stopped.port])
            #expect(try await cluster.clusterState(port: survivor.port) == "ok")
            let slot = ClusterTopology.slot(forKey: "{survivor}")
            let owner = try #require(cluster.node(port: try await cluster.primaryPort(forSlot: slot)))
            #expect(try await owner.send("SET", "{survivor}", "value") == .status("OK"))
        }
    }

    @Test func aPasswordGuardsEveryNodeAndMigrationUsesIt() async throws {
        // Characters that need quoting in a configuration file and percent-encoding in a URL.
        let options = ClusterTopology.Options(primaries: 3, replicasPerPrimary: 1, password: "p@ss \"word\"/ü")
        try await ClusterTopology.with(options) { cluster in
            let primary = cluster.nodes[0]
            let anonymous = try RedisConnection(url: "redis://127.0.0.1:\(primary.port)")
            await #expect(throws: RedisError.self) { try await anonymous.send("CLUSTER", "INFO") }
            anonymous.close()
            let authenticated = try RedisConnection(url: cluster.nodeURL(port: primary.port))
            #expect(try await authenticated.send("PING") == .status("PONG"))
            authenticated.close()
            let hosts = cluster.nodes.prefix(3).map { "127.0.0.1:\($0.port)" }.joined(separator: ",")
            #expect(cluster.seedURL == "redis-cluster://:p%40ss%20%22word%22%2F%C3%BC@\(hosts)")

            // MIGRATE authenticates with the target; replicas with their primary (masterauth).
            let slot = ClusterTopology.slot(forKey: "{secret}")
            let source = try #require(cluster.node(port: try await cluster.primaryPort(forSlot: slot)))
            try await source.send("SET", "{secret}", "value")
            let target = try #require(try await cluster.primaryPorts.first { $0 != source.port })
            try await cluster.migrate(slot: slot, to: target)
            #expect(try await cluster.node(port: target)?.send("GET", "{secret}") == .bulk(Array("value".utf8)))
            #expect(!"\(cluster)".contains("p@ss"))
            #expect(!String(reflecting: cluster).contains("p@ss"))
            #expect(!"\(cluster.options)".contains("p@ss"))
        }
    }

    @Test func shutdownLeavesNoProcess() async throws {
        let cluster = try await ClusterTopology.start(.init(primaries: 3, replicasPerPrimary: 1))
        let pids = cluster.nodes.compactMap(\.pid)
        #expect(pids.count == 6)
        let configuration = cluster.nodes[0].configurationFile
        #expect(FileManager.default.fileExists(atPath: configuration))
        await cluster.shutdown()
        for pid in pids {
            // Reaped: no process, not even a zombie, has the ID.
            #expect(kill(pid, 0) == -1 && errno == ESRCH, "process \(pid)")
        }
        #expect(cluster.nodes.allSatisfy { !$0.isRunning })
        #expect(!FileManager.default.fileExists(atPath: configuration))
    }

    @Test func badOptionsAreRefused() async {
        await #expect(throws: TopologyError.self) {
            try await ClusterTopology.start(.init(primaries: 0))
        }
        await #expect(throws: TopologyError.self) {
            try await ClusterTopology.start(.init(replicasPerPrimary: -1))
        }
    }

    /// Expects `body` to fail with a redirection whose text begins with `prefix` (`MOVED <slot> <host:port>`, `ASK`).
    private func expectRedirection(
        _ prefix: String,
        sourceLocation: SourceLocation = #_sourceLocation,
        _ body: () async throws -> RedisValue
    ) async {
        do {
            let reply = try await body()
            Issue.record("expected \(prefix), got \(reply)", sourceLocation: sourceLocation)
        } catch {
            let message = (error as? RedisError)?.message ?? "\(error)"
            #expect(message.hasPrefix(prefix), "\(message)", sourceLocation: sourceLocation)
        }
    }
}
