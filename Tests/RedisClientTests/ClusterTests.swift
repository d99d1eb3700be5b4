import RedisClient
import RedisTestSupport
import Testing

/// The cluster client against a real Redis Cluster on loopback (3 primaries, started per test).
@Suite("Cluster: routing, redirections, failover", .serialized)
struct ClusterTests {
    /// A direct connection to one node, without routing.
    static func node(_ topology: ClusterTopology, _ port: Int) throws -> RedisConnection {
        try RedisConnection(url: topology.nodeURL(port: port))
    }

    /// A key in a slot served by `port`.
    static func key(servedBy port: Int, in topology: ClusterTopology, prefix: String = "k") async throws -> String {
        let shard = try #require(try await topology.shards().first { $0.primaryPort == port }, "no shard of \(port)")
        for index in 0..<100_000 {
            let key = "\(prefix)\(index)"
            if shard.contains(slot: HashSlot.of(key)) { return key }
        }
        throw RedisError(.protocolError, "no key found for port \(port)")
    }

    @Test("Every command reaches the primary of its key's slot; pipelines span primaries; WAIT follows its write")
    func routing() async throws {
        try await ClusterTopology.with(.init(primaries: 3, replicasPerPrimary: 0)) { topology in
            let client = try RedisConnection(url: topology.seedURL)
            defer { client.close() }
            let keys = (0..<300).map { "route-\($0)" }
            let replies = try await client.pipeline(
                keys.map { RedisCommand("SET", RedisArgument($0), RedisArgument($0)) }
            )
            #expect(replies.allSatisfy { (try? $0.get().string) == "OK" })
            var perNode: [Int: Int] = [:]
            for key in keys {
                let port = try await topology.primaryPort(forSlot: HashSlot.of(key))
                let node = try Self.node(topology, port)
                defer { node.close() }
                #expect(try await node.send("GET", RedisArgument(key)).string == key)
                perNode[port, default: 0] += 1
            }
            #expect(perNode.count == 3)
            let map = try #require(try await client.clusterSlotMap())
            #expect(map.primaries.count == 3)
            #expect(map.coversAllSlots)
            let (value, rest) = try await client.run(
                RedisScript("return redis.call('GET', KEYS[1])"),
                keys: ["route-7"],
                followedBy: [RedisCommand("WAIT", "0", "10"), RedisCommand("INFO", "server")]
            )
            #expect(value.string == "route-7")
            let expectedPort = try await topology.primaryPort(forSlot: HashSlot.of("route-7"))
            #expect(try rest[1].get().string?.contains("tcp_port:\(expectedPort)") == true)
            #expect(try await client.clusterNode(forKey: "route-7")?.port == expectedPort)
        }
    }

    @Test("After a resharding the client follows MOVED and learns the new owner")
    func movedAfterResharding() async throws {
        try await ClusterTopology.with(.init(primaries: 3, replicasPerPrimary: 0)) { topology in
            let client = try RedisConnection(url: topology.seedURL)
            defer { client.close() }
            let source = try await topology.primaryPorts[0]
            let target = try await topology.primaryPorts[1]
            let key = try await Self.key(servedBy: source, in: topology, prefix: "moved-")
            try await client.send("SET", RedisArgument(key), "before")
            #expect(try await client.clusterNode(forKey: key)?.port == source)
            try await topology.migrate(slot: HashSlot.of(key), to: target)
            #expect(try await client.send("GET", RedisArgument(key)).string == "before")
            try await client.send("SET", RedisArgument(key), "after")
            let node = try Self.node(topology, target)
            defer { node.close() }
            #expect(try await node.send("GET", RedisArgument(key)).string == "after")
            #expect(try await client.clusterNode(forKey: key)?.port == target)
        }
    }

    @Test("During a slot migration the client follows ASK with ASKING, for moved and new keys")
    func askDuringMigration() async throws {
        try await ClusterTopology.with(.init(primaries: 3, replicasPerPrimary: 0)) { topology in
            let client = try RedisConnection(url: topology.seedURL)
            defer { client.close() }
            let source = try await topology.primaryPorts[0]
            let target = try await topology.primaryPorts[2]
            let tag = try await Self.key(servedBy: source, in: topology, prefix: "tag")
            let moved = "{\(tag)}:moved"
            let stays = "{\(tag)}:stays"
            let fresh = "{\(tag)}:fresh"
            try await client.send("SET", RedisArgument(moved), "m")
            try await client.send("SET", RedisArgument(stays), "s")
            try await topology.beginMigration(slot: HashSlot.of(tag), to: target)
            try await topology.migrateKeys(slot: HashSlot.of(tag), to: target, keys: [moved])
            #expect(try await client.send("GET", RedisArgument(moved)).string == "m")
            #expect(try await client.send("GET", RedisArgument(stays)).string == "s")
            try await client.send("SET", RedisArgument(fresh), "f")
            let targetNode = try Self.node(topology, target)
            defer { targetNode.close() }
            let asking = try await targetNode.pipeline([
                RedisCommand("ASKING"), RedisCommand("GET", RedisArgument(fresh)),
            ])
            #expect(try asking[1].get().string == "f")
            // ASK is for one command: the map still names the source.
            #expect(try await client.clusterNode(forKey: tag)?.port == source)
            try await topology.migrateKeys(slot: HashSlot.of(tag), to: target, keys: [stays])
            try await topology.finishMigration(slot: HashSlot.of(tag), to: target)
            #expect(try await client.send("GET", RedisArgument(stays)).string == "s")
        }
    }

    @Test("CLUSTER FAILOVER: writes go on to the promoted replica")
    func manualFailover() async throws {
        try await ClusterTopology.with(.init(primaries: 3, replicasPerPrimary: 1)) { topology in
            let client = try RedisConnection(url: topology.seedURL)
            defer { client.close() }
            let old = try await topology.primaryPorts[0]
            let key = try await Self.key(servedBy: old, in: topology, prefix: "fo-")
            try await client.send("SET", RedisArgument(key), "1")
            let promoted = try await topology.failover(shardOf: old)
            #expect(promoted != old)
            try await client.send("INCR", RedisArgument(key))
            #expect(try await client.send("GET", RedisArgument(key)).string == "2")
            #expect(try await client.clusterNode(forKey: key)?.port == promoted)
        }
    }

    @Test("kill -9 of a primary: the client reaches the promoted replica; acknowledged writes survive")
    func crashFailover() async throws {
        try await ClusterTopology.with(.init(primaries: 3, replicasPerPrimary: 1)) { topology in
            var configuration = try RedisConfiguration(url: topology.seedURL)
            configuration.commandTimeout = .seconds(2)
            let client = try RedisConnection(configuration: configuration)
            defer { client.close() }
            let old = try await topology.primaryPorts[1]
            let key = try await Self.key(servedBy: old, in: topology, prefix: "crash-")
            let replies = try await client.pipeline([
                RedisCommand("SET", RedisArgument(key), "kept"), RedisCommand("WAIT", "1", "2000"),
            ])
            #expect(try replies[1].get().int == 1)
            try await topology.crashPrimary(port: old)
            let promoted = try await topology.waitForNewPrimary(replacing: old, timeout: .seconds(20))
            var value: String?
            for _ in 0..<20 where value == nil {
                value = try? await client.send("GET", RedisArgument(key)).string
            }
            #expect(value == "kept")
            #expect(try await client.clusterNode(forKey: key)?.port == promoted)
        }
    }

    @Test("CLUSTERDOWN while a shard is missing is a clear error, and the client recovers when it is back")
    func clusterDown() async throws {
        try await ClusterTopology.with(.init(primaries: 3, replicasPerPrimary: 0)) { topology in
            var configuration = try RedisConfiguration(url: topology.seedURL)
            configuration.commandTimeout = .seconds(1)
            let client = try RedisConnection(configuration: configuration)
            defer { client.close() }
            let lost = try await topology.primaryPorts[2]
            let key = try await Self.key(servedBy: lost, in: topology, prefix: "down-")
            try await client.send("SET", RedisArgument(key), "v")
            _ = try await topology.stopShard(of: lost)

            let started = ContinuousClock.now
            do {
                try await client.send("GET", RedisArgument(key))
                Issue.record("a command succeeded while the cluster was down")
            } catch let error as RedisError {
                #expect(
                    error.code == .connectionFailed || error.message.hasPrefix("CLUSTERDOWN"),
                    "\(error)"
                )
            }
            #expect(ContinuousClock.now - started < .seconds(5))
            try await topology.restart(port: lost)
            var recovered = false
            for _ in 0..<20 where !recovered {
                recovered = (try? await client.send("SET", RedisArgument(key), "w")) != nil
            }
            #expect(recovered)
        }
    }

    @Test("A transaction stays on one node: sent again whole after MOVED, never left open on a shared connection")
    func transactions() async throws {
        try await ClusterTopology.with(.init(primaries: 3, replicasPerPrimary: 0)) { topology in
            var configuration = try RedisConfiguration(url: topology.seedURL)
            configuration.commandTimeout = .seconds(1)
            let client = try RedisConnection(configuration: configuration)
            defer { client.close() }
            let source = try await topology.primaryPorts[0]
            let target = try await topology.primaryPorts[1]
            let tag = try await Self.key(servedBy: source, in: topology, prefix: "tx-")
            var other = try await Self.key(servedBy: source, in: topology, prefix: "txo-")
            var index = 0
            while HashSlot.of(other) == HashSlot.of(tag) {
                index += 1
                other = try await Self.key(servedBy: source, in: topology, prefix: "txo\(index)-")
            }
            _ = try await client.clusterSlotMap()
            try await topology.migrate(slot: HashSlot.of(tag), to: target)
            // One slot: the whole transaction goes to the new owner and runs there.
            let moved = try await client.pipeline([
                RedisCommand("MULTI"), RedisCommand("SET", RedisArgument("{\(tag)}:a"), "1"),
                RedisCommand("SET", RedisArgument("{\(tag)}:b"), "2"), RedisCommand("EXEC"),
            ])
            #expect(try moved[3].get().array?.count == 2, "\(moved)")
            #expect(try await client.send("GET", RedisArgument("{\(tag)}:b")).string == "2")
            // Two slots now on two nodes: the transaction is refused as a whole, nothing runs, nothing stays open.
            let split = try await client.pipeline([
                RedisCommand("MULTI"), RedisCommand("SET", RedisArgument("{\(tag)}:c"), "3"),
                RedisCommand("SET", RedisArgument(other), "4"), RedisCommand("EXEC"),
            ])
            #expect((try? split[3].get()) == nil, "\(split)")
            #expect(try await client.send("GET", RedisArgument("{\(tag)}:c")).isNull)
            #expect(try await client.send("GET", RedisArgument("{\(tag)}:a")).string == "1")
            #expect(try await client.send("GET", RedisArgument(other)).isNull)
        }
    }

    @Test("Loading scripts with one primary down loads them on the others (the rest load on demand)")
    func loadWithAPrimaryDown() async throws {
        try await ClusterTopology.with(.init(primaries: 3, replicasPerPrimary: 0)) { topology in
            let down = try await topology.primaryPorts[2]
            let client = try RedisConnection(url: topology.seedURL)
            defer { client.close() }
            _ = try await client.clusterSlotMap()
            try await topology.crashPrimary(port: down)
            let script = RedisScript("return 1")
            try await client.load([script])
            let up = try await topology.primaryPorts[0]
            let node = try Self.node(topology, up)
            defer { node.close() }
            #expect(try await node.send("SCRIPT", "EXISTS", RedisArgument(script.sha1)).array?.first?.int == 1)
        }
    }

    @Test("A script is loaded on each node on demand, also after SCRIPT FLUSH")
    func scriptsPerNode() async throws {
        try await ClusterTopology.with(.init(primaries: 3, replicasPerPrimary: 0)) { topology in
            let client = try RedisConnection(url: topology.seedURL)
            defer { client.close() }
            let script = RedisScript("return redis.call('INCR', KEYS[1])")
            for port in try await topology.primaryPorts {
                let key = try await Self.key(servedBy: port, in: topology, prefix: "script")
                #expect(try await client.run(script, keys: [RedisArgument(key)]).int == 1)
                let node = try Self.node(topology, port)
                try await node.send("SCRIPT", "FLUSH")
                node.close()
                #expect(try await client.run(script, keys: [RedisArgument(key)]).int == 2)
            }
            try await client.load([script])
            for port in try await topology.primaryPorts {
                let node = try Self.node(topology, port)
                defer { node.close() }
                #expect(try await node.send("SCRIPT", "EXISTS", RedisArgument(script.sha1)).array?.first?.int == 1)
            }
        }
    }

    @Test("Sharded pub/sub: SSUBSCRIBE on the slot's node, moved with a gap when the slot moves")
    func shardedSubscriptionFollowsSlot() async throws {
        try await ClusterTopology.with(.init(primaries: 3, replicasPerPrimary: 0)) { topology in
            let client = try RedisConnection(url: topology.seedURL)
            let subscriber = try RedisSubscriber(configuration: RedisConfiguration(url: topology.seedURL))
            defer {
                subscriber.close()
                client.close()
            }
            let source = try await topology.primaryPorts[0]
            let target = try await topology.primaryPorts[1]
            let channel = try await Self.key(servedBy: source, in: topology, prefix: "chan-")
            try await subscriber.subscribe(to: [channel]) { subscription in
                var events = subscription.makeAsyncIterator()
                #expect(try await client.send("SPUBLISH", RedisArgument(channel), "one").int == 1)
                #expect(await events.next() == .message(channel: channel, payload: Array("one".utf8)))
                try await topology.migrate(slot: HashSlot.of(channel), to: target)
                #expect(await events.next() == .gap)
                #expect(subscriber.isSubscribedToAll)
                #expect(try await client.send("SPUBLISH", RedisArgument(channel), "two").int == 1)
                #expect(await events.next() == .message(channel: channel, payload: Array("two".utf8)))
            }
        }
    }

    @Test("Sharded pub/sub follows a shard failover (kill -9) with a gap")
    func shardedSubscriptionFollowsFailover() async throws {
        try await ClusterTopology.with(.init(primaries: 3, replicasPerPrimary: 1)) { topology in
            let client = try RedisConnection(url: topology.seedURL)
            let subscriber = try RedisSubscriber(configuration: RedisConfiguration(url: topology.seedURL))
            defer {
                subscriber.close()
                client.close()
            }
            let old = try await topology.primaryPorts[2]
            let channel = try await Self.key(servedBy: old, in: topology, prefix: "fchan-")
            try await subscriber.subscribe(to: [channel]) { subscription in
                var events = subscription.makeAsyncIterator()
                try await topology.crashPrimary(port: old)
                _ = try await topology.waitForNewPrimary(replacing: old, timeout: .seconds(20))
                #expect(await events.next() == .gap)
                var delivered = 0
                for _ in 0..<40 where delivered == 0 {
                    delivered = Int((try? await client.send("SPUBLISH", RedisArgument(channel), "x").int) ?? 0)
                    if delivered == 0 { try await Task.sleep(for: .milliseconds(50)) }
                }
                #expect(delivered == 1)
                #expect(await events.next() == .message(channel: channel, payload: Array("x".utf8)))
            }
        }
    }
}
