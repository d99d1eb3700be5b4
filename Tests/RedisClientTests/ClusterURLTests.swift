import RedisClient
import Testing

@Suite("Cluster URLs")
struct ClusterURLTests {
    @Test("A cluster URL lists seed nodes and the nodes' credentials")
    func parsesSeeds() throws {
        let configuration = try RedisConfiguration(url: "redis-cluster://app:s%40cret@10.0.0.1:7000,node-b,[::1]:7002")
        let cluster = try #require(configuration.cluster)
        #expect(
            cluster.seeds == [
                .init(host: "10.0.0.1", port: 7000), .init(host: "node-b", port: 6379), .init(host: "::1", port: 7002),
            ]
        )
        #expect(configuration.username == "app")
        #expect(configuration.password == "s@cret")
        #expect(configuration.tls == nil)
        #expect(configuration.description == "redis-cluster://app:***@10.0.0.1:7000,node-b:6379,[::1]:7002")
        #expect(!String(reflecting: configuration).contains("s@cret"))
        var parsedBack = try RedisConfiguration(url: "redis-cluster://app:x@10.0.0.1:7000,node-b:6379,[::1]:7002")
        parsedBack.password = configuration.password
        #expect(parsedBack == configuration)
    }

    @Test("rediss-cluster:// applies the TLS settings to every node")
    func tls() throws {
        let configuration = try RedisConfiguration(
            url: "rediss-cluster://:pw@127.0.0.1:7000,127.0.0.1:7001?ca_file=/etc/ca.pem&server_name=redis.internal"
        )
        #expect(configuration.cluster?.seeds.count == 2)
        #expect(configuration.tls?.caFile == "/etc/ca.pem")
        #expect(configuration.tls?.serverName == "redis.internal")
        #expect(configuration.description.hasPrefix("rediss-cluster://:***@127.0.0.1:7000,127.0.0.1:7001?"))
    }

    @Test(
        "Malformed cluster URLs are refused with a typed error",
        arguments: [
            "redis-cluster://", "redis-cluster://host:0", "redis-cluster://host:7000,", "redis-cluster://host/1",
            "redis-cluster://host?ca_file=/x", "redis-cluster://host#name", "redis-cluster://ho st",
            "rediss-cluster://host?unknown=1",
        ]
    )
    func refusesMalformed(url: String) {
        #expect {
            _ = try RedisConfiguration(url: url)
        } throws: { error in
            guard let error = error as? RedisError else { return false }
            return error.code == .invalidURL || error.code == .invalidConfiguration
        }
    }

    @Test("A password never appears in the redacted form of a cluster URL")
    func redaction() {
        #expect(
            RedisConfiguration.redactingPassword(inURL: "redis-cluster://u:topsecret@h1:1,h2:2")
                == "redis-cluster://u:***@h1:1,h2:2"
        )
    }

    @Test("Hash slots match Redis's CRC16 and hash-tag rules")
    func hashSlots() {
        // Values from `CLUSTER KEYSLOT` on Redis 7.
        #expect(HashSlot.of("foo") == 12182)
        #expect(HashSlot.of("bar") == 5061)
        #expect(HashSlot.of("123456789") == 12739)
        #expect(HashSlot.of("{user1000}.following") == HashSlot.of("user1000"))
        #expect(HashSlot.of("{}foo") == HashSlot.of(Array("{}foo".utf8)))
        #expect(HashSlot.of("foo{}{bar}") != HashSlot.of("bar"))
        #expect(HashSlot.of("foo{{bar}}") == HashSlot.of("{bar"))
        #expect(HashSlot.of("{") == HashSlot.of(Array("{".utf8)))
    }
}
