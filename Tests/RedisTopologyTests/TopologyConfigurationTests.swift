import RedisClient
import Testing

@testable import RedisTopology

/// What the topology writes and parses, without a server.
@Suite("Topology configuration and replies")
struct TopologyConfigurationTests {
    @Test func configurationArgumentsAreQuoted() {
        #expect(RedisNodeProcess.quoted("plain") == "\"plain\"")
        #expect(RedisNodeProcess.quoted("a \"b\" \\c") == "\"a \\\"b\\\" \\\\c\"")
        #expect(RedisNodeProcess.quoted("ü\n") == "\"\\xc3\\xbc\\x0a\"")
    }

    @Test func sentinelConfigurationKnowsTheReplicasAndTheOtherSentinels() {
        let options = SentinelTopology.Options(
            replicas: 2,
            sentinels: 3,
            downAfter: .milliseconds(800),
            failoverTimeout: .seconds(3),
            password: "pw",
            sentinelPassword: "spw"
        )
        let lines = SentinelTopology.sentinelConfiguration(
            options,
            id: String(repeating: "a", count: 40),
            primaryPort: 7100,
            replicaPorts: [7101, 7102],
            otherSentinels: [(7111, String(repeating: "b", count: 40)), (7112, String(repeating: "c", count: 40))]
        )
        #expect(lines.contains("sentinel monitor \"mymaster\" 127.0.0.1 7100 2"))
        #expect(lines.contains("sentinel down-after-milliseconds \"mymaster\" 800"))
        #expect(lines.contains("sentinel failover-timeout \"mymaster\" 3000"))
        #expect(lines.contains("sentinel parallel-syncs \"mymaster\" 1"))
        #expect(lines.contains("sentinel auth-pass \"mymaster\" \"pw\""))
        #expect(lines.contains("sentinel sentinel-pass \"spw\""))
        #expect(lines.contains("sentinel known-replica \"mymaster\" 127.0.0.1 7102"))
        #expect(
            lines.contains("sentinel known-sentinel \"mymaster\" 127.0.0.1 7112 \(String(repeating: "c", count: 40))")
        )
        // `monitor` comes before every directive about the primary it names.
        #expect(lines.firstIndex { $0.hasPrefix("sentinel monitor") } == 1)
        #expect(SentinelTopology.randomSentinelID().count == 40)
        #expect(!"\(options)".contains("pw"))
        #expect(!String(reflecting: options).contains("spw"))
    }

    @Test func periodsBecomeSentinelDebugArguments() {
        #expect(SentinelPeriods.redisDefaults.debugArguments == nil)
        #expect(
            SentinelPeriods.fast.debugArguments == [
                "PING-PERIOD", "250", "INFO-PERIOD", "1000", "PUBLISH-PERIOD", "500",
            ]
        )
        #expect(SentinelPeriods.milliseconds(.microseconds(1)) == 1)
    }

    @Test func rolesAreParsed() throws {
        let primary: RedisValue = .array([
            .bulk(Array("master".utf8)), .integer(42),
            .array([.array([.bulk(Array("127.0.0.1".utf8)), .bulk(Array("7101".utf8)), .bulk(Array("42".utf8))])]),
        ])
        #expect(try NodeRole(reply: primary) == .primary(replicas: [NodeAddress(port: 7101)]))
        let replica: RedisValue = .array([
            .bulk(Array("slave".utf8)), .bulk(Array("127.0.0.1".utf8)), .integer(7100),
            .bulk(Array("connected".utf8)), .integer(42),
        ])
        #expect(try NodeRole(reply: replica) == .replica(of: NodeAddress(port: 7100), linkUp: true))
        let syncing: RedisValue = .array([
            .bulk(Array("slave".utf8)), .bulk(Array("127.0.0.1".utf8)), .integer(7100),
            .bulk(Array("sync".utf8)), .integer(-1),
        ])
        #expect(try NodeRole(reply: syncing) == .replica(of: NodeAddress(port: 7100), linkUp: false))
        let sentinel: RedisValue = .array([.bulk(Array("sentinel".utf8)), .array([.bulk(Array("mymaster".utf8))])])
        #expect(try NodeRole(reply: sentinel) == .sentinel(primaryNames: ["mymaster"]))
        #expect(throws: TopologyError.self) { try NodeRole(reply: .status("OK")) }
    }

    @Test func sentinelFieldsAreParsed() throws {
        let reply: RedisValue = .array(
            ["name", "127.0.0.1:7101", "ip", "127.0.0.1", "port", "7101", "flags", "slave,s_down"].map {
                .bulk(Array($0.utf8))
            }
        )
        let fields = try SentinelFields(reply)
        #expect(fields.port == 7101)
        #expect(fields.flags == ["slave", "s_down"])
        #expect(!fields.isHealthy)
        #expect(try SentinelFields.entries(.array([reply])).count == 1)
        #expect(throws: TopologyError.self) { try SentinelFields(.array([.bulk([1])])) }
    }
}
