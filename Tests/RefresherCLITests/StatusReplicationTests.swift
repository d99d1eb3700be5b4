import Foundation
import RedisRefresher
import RedisTestSupport
import Testing

/// `refresher status` shows the node it talked to, its replicas and the replica acknowledgement a worker would use:
/// against the single test Redis, a primary with a replica, and a primary found through a sentinel that needs its
/// own password.
@Suite("refresher status: node, replicas, replica acknowledgement", .serialized)
struct StatusReplicationTests {
    /// The acknowledgement variables, which a test's environment must not leak into another's run.
    static let variables = [
        "REPLICA_ACKS", "REPLICA_ACK_TIMEOUT_MS", "REDIS_PASSWORD", "REDIS_PASSWORD_FILE", "REDIS_SENTINEL_PASSWORD",
        "REDIS_SENTINEL_PASSWORD_FILE", "REDIS_SENTINEL_USERNAME",
    ]

    static func run(
        _ arguments: [String],
        environment: [String: String] = [:]
    ) async throws -> CLI.Result {
        try await CLI.run(
            arguments,
            environment: environment,
            removing: variables.filter { environment[$0] == nil }
        )
    }

    @Test("A single node: primary at the URL's address, its replicas from INFO, acknowledgement off unless asked for")
    func singleNode() async throws {
        let fixture = try OperatorFixture()
        let configuration = try RedisConfiguration(url: TestRedis.url)
        let result = try await Self.run(fixture.arguments(["status"]))
        #expect(result.status == 0, "\(result.stderr)")
        let rows = OperatorFixture.rows(result.stdout)
        // The address the server saw: the URL's port (its host may be a name such as localhost).
        if case .tcp(_, let port) = configuration.endpoint {
            #expect(rows["node"]?.hasPrefix("primary ") == true, "\(rows)")
            #expect(rows["node"]?.hasSuffix(":\(port)") == true, "\(rows)")
        }
        #expect(rows["replica acks"] == "off (automatic without Sentinel)")
        #expect(rows["replicas"] != nil)

        let json = try OperatorFixture.jsonObject(
            try await Self.run(fixture.arguments(["status", "--json"]), environment: ["REPLICA_ACKS": "1"]).stdout
        )
        let replication = try #require(json["replication"] as? [String: Any])
        #expect(replication["role"] as? String == "primary")
        #expect(replication["error"] is NSNull)
        let replicas = try #require(replication["replicas"] as? [[String: Any]])
        #expect(replication["connected_replicas"] as? Int == replicas.count)
        let online = replicas.filter { $0["state"] as? String == "online" }.count
        let acknowledgement = try #require(json["replica_acknowledgement"] as? [String: Any])
        #expect(acknowledgement["replicas"] as? Int == 1)
        #expect(acknowledgement["timeout_ms"] as? Int == 1000)
        #expect(acknowledgement["automatic"] as? Bool == false)
        #expect(acknowledgement["sentinel"] as? Bool == false)
        #expect(acknowledgement["enough_replicas"] as? Bool == (online >= 1))

        let refused = try await Self.run(fixture.arguments(["status"]), environment: ["REPLICA_ACKS": "65"])
        OperatorFixture.expectOneLineError(refused)
        #expect(refused.stderr.contains("REPLICA_ACKS must be in 0...64"), "\(refused.stderr)")
    }

    @Test("A primary with a replica: the replica online with its address; status on the replica says so")
    func primaryAndReplica() async throws {
        let primary = try await RedisServerProcess(arguments: ["--repl-diskless-sync-delay", "0"])
        let replica = try await RedisServerProcess(arguments: ["--replicaof", "127.0.0.1", String(primary.port)])
        let fixture = try OperatorFixture(url: primary.url)
        defer { fixture.redis.close() }
        try await waitUntil(timeout: .seconds(20), "the replica streams from the primary") {
            let info = try await fixture.redis.send("INFO", "replication").string ?? ""
            return info.contains("state=online")
        }
        let result = try await Self.run(fixture.arguments(["status"]), environment: ["REPLICA_ACKS": "1"])
        #expect(result.status == 0, "\(result.stderr)")
        let rows = OperatorFixture.rows(result.stdout)
        #expect(rows["node"] == "primary 127.0.0.1:\(primary.port)")
        #expect(rows["replicas"]?.hasPrefix("1 connected: 127.0.0.1:\(replica.port) (online, lag ") == true, "\(rows)")
        #expect(rows["replica acks"] == "1 replica within 1 s (from REPLICA_ACKS/REPLICA_ACK_TIMEOUT_MS)")

        let two = try await Self.run(fixture.arguments(["status", "--json"]), environment: ["REPLICA_ACKS": "2"])
        let acknowledgement = try #require(
            try OperatorFixture.jsonObject(two.stdout)["replica_acknowledgement"] as? [String: Any]
        )
        #expect(acknowledgement["enough_replicas"] as? Bool == false)

        let onReplica = try await Self.run(["status", "--session", fixture.name, "--redis-url", replica.url, "--json"])
        #expect(onReplica.status == 0, "\(onReplica.stderr)")
        let replication = try #require(
            try OperatorFixture.jsonObject(onReplica.stdout)["replication"] as? [String: Any]
        )
        #expect(replication["role"] as? String == "replica")
        #expect(replication["address"] as? String == "127.0.0.1:\(replica.port)")
        #expect(replication["primary_address"] as? String == "127.0.0.1:\(primary.port)")
        #expect(replication["primary_link_up"] as? Bool == true)
        try await replica.stop()
        try await primary.stop()
    }

    @Test("Through a sentinel with its own password: REDIS_SENTINEL_PASSWORD or a file reaches it; never printed")
    func throughSentinel() async throws {
        let dataPassword = "data-\(UUID().uuidString.prefix(8))"
        let sentinelPassword = "sentinel-\(UUID().uuidString.prefix(8))"
        let topology = try await SentinelTopology.start(
            .init(
                primaryName: "cli-primary",
                replicas: 0,
                sentinels: 1,
                password: dataPassword,
                sentinelPassword: sentinelPassword
            )
        )
        let primary = try #require(topology.nodes.first)
        let sentinel = try #require(topology.sentinels.first)
        let fixture = try OperatorFixture(url: "redis://:\(dataPassword)@127.0.0.1:\(primary.port)")
        try await fixture.storeSession(expiresIn: .seconds(3600))
        let url = "redis-sentinel://127.0.0.1:\(sentinel.port)#cli-primary"
        let arguments = ["status", "--session", fixture.name, "--redis-url", url]
        func expectNoPasswords(_ result: CLI.Result, sourceLocation: SourceLocation = #_sourceLocation) {
            for password in [dataPassword, sentinelPassword] {
                #expect(!result.stdout.contains(password), sourceLocation: sourceLocation)
                #expect(!result.stderr.contains(password), sourceLocation: sourceLocation)
            }
        }

        // Without the sentinels' password the sentinel refuses, and the error says so.
        let refused = try await Self.run(arguments, environment: ["REDIS_PASSWORD": dataPassword])
        OperatorFixture.expectOneLineError(refused)
        #expect(refused.stderr.contains("NOAUTH"), "\(refused.stderr)")
        expectNoPasswords(refused)

        let result = try await Self.run(
            arguments,
            environment: ["REDIS_PASSWORD": dataPassword, "REDIS_SENTINEL_PASSWORD": sentinelPassword]
        )
        #expect(result.status == 0, "\(result.stderr)")
        let rows = OperatorFixture.rows(result.stdout)
        #expect(rows["redis"] == "redis-sentinel://:***@127.0.0.1:\(sentinel.port)/0?sentinel_password=***#cli-primary")
        #expect(rows["node"] == "primary 127.0.0.1:\(primary.port)")
        #expect(rows["replicas"] == "none")
        #expect(
            rows["replica acks"]
                == "1 replica within 1 s (automatic with Sentinel); only 0 online: no refresh can complete until 1 is"
        )
        #expect(rows["generation"] == "1")
        expectNoPasswords(result)

        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sentinel-pw-\(UUID().uuidString)")
        try Data((sentinelPassword + "\n").utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let fromFile = try await Self.run(
            arguments + ["--json", "--redis-sentinel-password-file", file.path],
            environment: ["REDIS_PASSWORD": dataPassword, "REPLICA_ACKS": "0"]
        )
        #expect(fromFile.status == 0, "\(fromFile.stderr)")
        let json = try OperatorFixture.jsonObject(fromFile.stdout)
        let acknowledgement = try #require(json["replica_acknowledgement"] as? [String: Any])
        #expect(acknowledgement["replicas"] as? Int == 0)
        #expect(acknowledgement["sentinel"] as? Bool == true)
        #expect(acknowledgement["automatic"] as? Bool == false)
        #expect((json["replication"] as? [String: Any])?["address"] as? String == "127.0.0.1:\(primary.port)")
        expectNoPasswords(fromFile)

        fixture.redis.close()
        await topology.shutdown()
    }
}
