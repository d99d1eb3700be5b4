import RedisClient
import RedisTopology
import Testing

/// Real topologies on loopback: each test starts its own primary, replica and sentinels on ports of its own, so the
/// tests run side by side; the slowest waits for the sentinels to demote an old primary (about 3 s with the fast
/// periods).
@Suite("Sentinel topologies", .timeLimit(.minutes(2)))
struct SentinelTopologyTests {
    @Test func startsReadyForAFailover() async throws {
        try await SentinelTopology.with { topology in
            #expect(topology.nodes.count == 2)
            #expect(topology.sentinels.count == 3)
            #expect(topology.quorum == 2)
            #expect(try await topology.primaryPort() == topology.nodes[0].port)
            #expect(try await topology.nodes[0].role() == .primary(replicas: [topology.nodes[1].address]))
            #expect(try await topology.nodes[1].role() == .replica(of: topology.nodes[0].address, linkUp: true))
            for sentinel in topology.sentinels {
                #expect(try await sentinel.role() == .sentinel(primaryNames: ["mymaster"]))
                let master = try await sentinel.send("SENTINEL", "MASTER", "mymaster")
                let fields = try #require(master.array).compactMap { $0.string }
                let pairs = Dictionary(
                    uniqueKeysWithValues: stride(from: 0, to: fields.count - 1, by: 2).map {
                        (fields[$0], fields[$0 + 1])
                    }
                )
                #expect(pairs["num-slaves"] == "1")
                #expect(pairs["num-other-sentinels"] == "2")
                #expect(pairs["flags"] == "master")
            }
            for sentinel in topology.sentinels { #expect(try await debugPeriods(of: sentinel)["PING-PERIOD"] == "250") }
            let ports = topology.sentinels.map { "127.0.0.1:\($0.port)" }.joined(separator: ",")
            #expect(topology.sentinelURL == "redis-sentinel://\(ports)/0#mymaster")
            #expect(topology.sentinelAddresses == topology.sentinels.map { NodeAddress(port: $0.port) })
        }
    }

    @Test func failoverMovesThePrimaryAndBackAgain() async throws {
        try await SentinelTopology.with { topology in
            let old = try await topology.primary()
            try await old.send("SET", "topology:key", "value")
            // Acknowledged by the replica before the failover: the promoted replica has it.
            #expect(try await old.send("WAIT", 1, 1000) == .integer(1))

            let first = try await topology.failover()
            #expect(first.oldPrimaryPort == old.port)
            #expect(first.newPrimaryPort != old.port)
            let promoted = try #require(topology.node(port: first.newPrimaryPort))
            #expect(try await promoted.role().isPrimary)
            #expect(try await promoted.send("GET", "topology:key") == .bulk(Array("value".utf8)))
            #expect(try await topology.primaryPort() == promoted.port)

            // The sentinels demote the old primary (a few seconds later), which makes the topology ready again.
            #expect(try await topology.waitUntilReady() == promoted.port)
            #expect(try await old.role() == .replica(of: promoted.address, linkUp: true))
            let second = try await topology.failover()
            #expect(second.oldPrimaryPort == promoted.port)
            #expect(second.newPrimaryPort == old.port)
            #expect(try await old.role().isPrimary)
        }
    }

    @Test func crashedPrimaryIsReplacedAndRejoinsAsAReplica() async throws {
        try await SentinelTopology.with { topology in
            let crashedPort = try await topology.crashPrimary()
            let crashed = try #require(topology.node(port: crashedPort))
            #expect(!crashed.isRunning)
            #expect(crashed.pid == nil)

            let newPort = try await topology.waitForNewPrimary(notOn: crashedPort)
            #expect(newPort != crashedPort)
            #expect(try await topology.node(port: newPort)?.role().isPrimary == true)
            // A majority of the sentinels report it (the last one may follow a moment later).
            let reported = await topology.reportedPrimaries()
            #expect(reported.values.filter { $0?.port == newPort }.count >= topology.quorum)

            // Restarted, it comes back as a primary (its configuration says so) until the sentinels demote it.
            try await topology.restartNode(port: crashedPort)
            #expect(crashed.isRunning)
            #expect(try await topology.waitUntilReady() == newPort)
            #expect(try await crashed.role() == .replica(of: NodeAddress(port: newPort), linkUp: true))
        }
    }

    @Test func pausedPrimaryIsReplacedAndDemotedOnceResumed() async throws {
        try await SentinelTopology.with { topology in
            let pausedPort = try await topology.pausePrimary()
            let paused = try #require(topology.node(port: pausedPort))
            #expect(paused.isPaused)
            #expect(paused.isRunning)

            let newPort = try await topology.waitForNewPrimary(notOn: pausedPort)
            #expect(newPort != pausedPort)

            #expect(try await topology.resumeOldPrimary() == newPort)
            #expect(!paused.isPaused)
            #expect(try await paused.role() == .replica(of: NodeAddress(port: newPort), linkUp: true))
            await #expect(throws: TopologyError.self) { try await topology.resumeOldPrimary() }
        }
    }

    @Test func passwordsOnNodesAndSentinels() async throws {
        // Characters that need quoting in a configuration file and percent-encoding in a URL.
        let options = SentinelTopology.Options(password: "p@ss \"word\"/ü", sentinelPassword: "s3ntinel:#?")
        try await SentinelTopology.with(options) { topology in
            let primary = try await topology.primary()
            #expect(try await primary.send("SET", "topology:key", "value") == .status("OK"))

            // Without the passwords, nodes and sentinels refuse commands.
            let anonymousNode = try RedisConnection(url: "redis://127.0.0.1:\(primary.port)")
            await #expect(throws: RedisError.self) { try await anonymousNode.send("GET", "topology:key") }
            let anonymousSentinel = try RedisConnection(url: "redis://127.0.0.1:\(topology.sentinels[0].port)")
            await #expect(throws: RedisError.self) { try await anonymousSentinel.send("SENTINEL", "MASTERS") }
            // The node URL carries the password, percent-encoded.
            let authenticated = try RedisConnection(url: topology.nodeURL(port: primary.port))
            #expect(try await authenticated.send("GET", "topology:key") == .bulk(Array("value".utf8)))

            let ports = topology.sentinels.map { "127.0.0.1:\($0.port)" }.joined(separator: ",")
            #expect(topology.sentinelURL == "redis-sentinel://:p%40ss%20%22word%22%2F%C3%BC@\(ports)/0#mymaster")
            let withSentinelPassword = topology.sentinelURL(sentinelPasswordParameter: "sentinel_password")
            #expect(
                withSentinelPassword
                    == "redis-sentinel://:p%40ss%20%22word%22%2F%C3%BC@\(ports)/0?sentinel_password=s3ntinel%3A%23%3F"
                    + "#mymaster"
            )
            // Sentinels reach the nodes (auth-pass) and each other (sentinel-pass): a failover goes through.
            let failover = try await topology.failover()
            #expect(failover.newPrimaryPort != primary.port)
            #expect(!"\(topology)".contains("p@ss"))
            #expect(!String(reflecting: topology).contains("s3ntinel"))
            anonymousNode.close()
            anonymousSentinel.close()
            authenticated.close()
        }
    }

    @Test func aStoppedSentinelLeavesAMajorityAndRejoins() async throws {
        try await SentinelTopology.with { topology in
            let primary = try await topology.primaryPort()
            try await topology.stopSentinel(0)
            #expect(!topology.sentinels[0].isRunning)
            #expect(await topology.reportedPrimaries().count == 2)
            #expect(try await topology.primaryPort() == primary)

            try await topology.startSentinel(0)
            // A restarted sentinel starts with Redis's periods; the topology sets its own again.
            #expect(try await debugPeriods(of: topology.sentinels[0])["INFO-PERIOD"] == "1000")
            #expect(try await topology.waitUntilReady() == primary)
        }
    }

    @Test func twoReplicasFollowTheNewPrimary() async throws {
        try await SentinelTopology.with(.init(replicas: 2)) { topology in
            #expect(topology.nodes.count == 3)
            let failover = try await topology.failover()
            #expect(topology.nodes.dropFirst().map(\.port).contains(failover.newPrimaryPort))
            // The other replica is moved to the new primary during the failover, the old primary a few seconds later.
            #expect(try await topology.waitUntilReady() == failover.newPrimaryPort)
            for node in topology.nodes where node.port != failover.newPrimaryPort {
                #expect(try await node.role() == .replica(of: NodeAddress(port: failover.newPrimaryPort), linkUp: true))
            }
        }
    }

    @Test func withoutReplicasAFailoverHasNoCandidate() async throws {
        try await SentinelTopology.with(.init(replicas: 0, sentinels: 1)) { (topology: SentinelTopology) async throws in
            #expect(topology.quorum == 1)
            #expect(try await topology.primaryPort() == topology.nodes[0].port)
            do {
                try await topology.failover(timeout: .seconds(2))
                Issue.record("a failover without replicas succeeded")
            } catch {
                #expect("\(error)".contains("NOGOODSLAVE"))
            }
            #expect(try await topology.primaryPort() == topology.nodes[0].port)
        }
    }

    @Test func redisOwnPeriodsAreLeftAsTheyAre() async throws {
        let options = SentinelTopology.Options(downAfter: .seconds(2), periods: .redisDefaults)
        try await SentinelTopology.with(options) { topology in
            let periods = try await debugPeriods(of: topology.sentinels[0])
            #expect(periods["PING-PERIOD"] == "1000")
            #expect(periods["INFO-PERIOD"] == "10000")
            let failover = try await topology.failover()
            #expect(failover.newPrimaryPort == topology.nodes[1].port)
        }
    }

    /// What `SENTINEL DEBUG` reports: the sentinel's periods and other internal timings, in milliseconds.
    private func debugPeriods(of sentinel: RedisNodeProcess) async throws -> [String: String] {
        let items = try #require(try await sentinel.send("SENTINEL", "DEBUG").array).compactMap { $0.string }
        return Dictionary(
            uniqueKeysWithValues: stride(from: 0, to: items.count - 1, by: 2).map { (items[$0], items[$0 + 1]) }
        )
    }
}
