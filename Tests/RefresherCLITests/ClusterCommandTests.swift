import Foundation
import RedisRefresher
import RedisTestSupport
import Testing

/// The operator commands against a real Redis Cluster (3 primaries with a replica each, on loopback, with a
/// password): `session put`, `status` and `release` with a `redis-cluster://` URL and the password from the
/// environment. Each test starts one cluster and runs every command it checks on it.
@Suite("refresher on a Redis Cluster", .serialized, .timeLimit(.minutes(3)))
struct ClusterCommandTests {
    /// The variables that a test's environment must not leak into another's run.
    static let variables = [
        "REPLICA_ACKS", "REPLICA_ACK_TIMEOUT_MS", "REDIS_PASSWORD", "REDIS_PASSWORD_FILE", "REDIS_SENTINEL_PASSWORD",
        "REDIS_SENTINEL_PASSWORD_FILE", "REDIS_SENTINEL_USERNAME", "REDIS_URL",
    ]
    static let password = "cluster-\(UUID().uuidString.prefix(8))"
    static let options = ClusterTopology.Options(primaries: 3, replicasPerPrimary: 1, password: password)

    static func run(
        _ arguments: [String],
        stdin: String? = nil,
        environment: [String: String] = ["REDIS_PASSWORD": password]
    ) async throws -> CLI.Result {
        try await CLI.run(
            arguments,
            stdin: stdin,
            environment: environment,
            removing: variables.filter { environment[$0] == nil }
        )
    }

    /// The seed URL without the password, as an operator would write it with `REDIS_PASSWORD` set.
    static func plainURL(_ cluster: ClusterTopology) -> String {
        "redis-cluster://" + cluster.nodes.prefix(3).map { "127.0.0.1:\($0.port)" }.joined(separator: ",")
    }

    static func expectNoSecrets(
        _ result: CLI.Result,
        _ fixture: OperatorFixture,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        fixture.expectNoTokens(in: result, sourceLocation: sourceLocation)
        #expect(!result.stdout.contains(password) && !result.stderr.contains(password), sourceLocation: sourceLocation)
    }

    @Test("session put, status and release on a cluster; status names the slot's primary, before and after a slot move")
    func operatorCommands() async throws {
        try await ClusterTopology.with(Self.options) { cluster in
            let url = Self.plainURL(cluster)
            let fixture = try OperatorFixture(url: cluster.seedURL)
            defer { fixture.redis.close() }
            let arguments = { (command: [String]) in command + ["--session", fixture.name, "--redis-url", url] }
            let slot = HashSlot.of(fixture.keys.lock)
            let shards = try await cluster.shards()
            let shard = try #require(shards.first { $0.contains(slot: slot) })
            let replica = try #require(shard.replicaPorts.first)

            // session put, with the password from the environment.
            let input =
                #"{"access_token": "\#(fixture.accessToken)", "refresh_token": "\#(fixture.refreshToken)", "#
                + #""expires_in": 3600}"#
            let put = try await Self.run(arguments(["session", "put"]), stdin: input)
            #expect(put.status == 0, "\(put.stderr)")
            #expect(put.stdout.hasPrefix("stored generation 1 for session \(fixture.name)"), "\(put.stdout)")
            #expect(try await fixture.field("generation") == "1")
            Self.expectNoSecrets(put, fixture)

            // status: the slot, its primary and replica, the cluster.
            let status = try await Self.run(arguments(["status"]))
            #expect(status.status == 0, "\(status.stderr)")
            let rows = OperatorFixture.rows(status.stdout)
            let redacted = "redis-cluster://:***@" + url.dropFirst("redis-cluster://".count)
            #expect(rows["redis"] == redacted)
            #expect(rows["cluster"] == "ok, 3 shards, 6 known nodes", "\(status.stdout)")
            #expect(
                rows["slot"] == "\(slot), served by 127.0.0.1:\(shard.primaryPort) (replicas 127.0.0.1:\(replica))"
            )
            #expect(rows["node"] == "primary 127.0.0.1:\(shard.primaryPort)")
            #expect(rows["replicas"]?.hasPrefix("1 connected: 127.0.0.1:\(replica) (online") == true, "\(rows)")
            #expect(rows["replica acks"] == "1 replica within 1 s (automatic on a cluster)")
            #expect(rows["generation"] == "1")
            #expect(rows["state"] == "ok")
            Self.expectNoSecrets(status, fixture)

            let json = try OperatorFixture.jsonObject(try await Self.run(arguments(["status", "--json"])).stdout)
            let clusterObject = try #require(json["cluster"] as? [String: Any], "\(json)")
            #expect(clusterObject["slot"] as? Int == slot)
            #expect(clusterObject["node"] as? String == "127.0.0.1:\(shard.primaryPort)")
            #expect(clusterObject["shard_replicas"] as? [String] == ["127.0.0.1:\(replica)"])
            #expect(clusterObject["state"] as? String == "ok")
            #expect(clusterObject["shards"] as? Int == 3)
            #expect(clusterObject["known_nodes"] as? Int == 6)
            #expect(clusterObject["error"] is NSNull)
            let replication = try #require(json["replication"] as? [String: Any])
            #expect(replication["role"] as? String == "primary")
            #expect(replication["address"] as? String == "127.0.0.1:\(shard.primaryPort)")
            let acknowledgement = try #require(json["replica_acknowledgement"] as? [String: Any])
            #expect(acknowledgement["cluster"] as? Bool == true)
            #expect(acknowledgement["enough_replicas"] as? Bool == true)

            // release: the lock on the slot's primary, released by its owner.
            try await fixture.redis.send("SET", .init(fixture.keys.lock), "web-1:2:abcd", "PX", "60000")
            let release = try await Self.run(arguments(["release", "--owner", "web-1:2:abcd"]))
            #expect(release.status == 0, "\(release.stderr)")
            #expect(try await fixture.lockHolder() == nil)

            // After the slot moved, status names the new primary, and the session moved with it.
            let target = try #require(shards.map(\.primaryPort).first { $0 != shard.primaryPort })
            try await cluster.migrate(slot: slot, to: target)
            let moved = OperatorFixture.rows(try await Self.run(arguments(["status"])).stdout)
            // The replica may be resynchronising right after the move (not online in the map yet).
            #expect(moved["slot"]?.hasPrefix("\(slot), served by 127.0.0.1:\(target) (") == true, "\(moved)")
            #expect(moved["node"] == "primary 127.0.0.1:\(target)")
            #expect(moved["generation"] == "1")

            // Sentinel credentials do not apply to a cluster: refused, in one line, naming why.
            let refused = try await Self.run(
                arguments(["status"]),
                environment: ["REDIS_PASSWORD": Self.password, "REDIS_SENTINEL_PASSWORD": "sentinel-pw"]
            )
            OperatorFixture.expectOneLineError(refused)
            #expect(refused.stderr.contains("names a Redis Cluster"), "\(refused.stderr)")
            #expect(!refused.stderr.contains("sentinel-pw") && !refused.stderr.contains(Self.password))
        }
    }

    @Test("watch on a cluster: the session's events, a gap when its slot moves or its shard fails over, then the next")
    func watchAcrossSlotMove() async throws {
        try await ClusterTopology.with(Self.options) { cluster in
            let fixture = try OperatorFixture(url: cluster.seedURL)
            defer { fixture.redis.close() }
            let slot = HashSlot.of(fixture.keys.lock)
            let watch = try await CLIProcess(
                ["watch", "--session", fixture.name, "--redis-url", Self.plainURL(cluster), "--json", "--count", "3"]
                    + ["--timeout", "60"],
                environment: ["REDIS_PASSWORD": Self.password],
                removing: Self.variables.filter { $0 != "REDIS_PASSWORD" }
            )
            defer { watch.kill() }
            try await watch.waitForSubscription()

            try await fixture.storeSession(expiresIn: .seconds(60))
            try await watch.waitForOutput(containing: #""event":"replaced""#)
            let owner = try await cluster.primaryPort(forSlot: slot)
            let target = try #require(try await cluster.primaryPorts.first { $0 != owner })
            try await cluster.migrate(slot: slot, to: target)
            // The server ends the subscription on the old owner; watch subscribes on the new one and says so.
            try await watch.waitForOutput(containing: #""event":"gap""#)
            try await fixture.storeSession(expiresIn: .seconds(60))
            try await watch.waitForOutput(containing: #""generation":2"#)

            // A failover of the new owner's shard: its replica takes the slot over, and watch follows it there.
            try await cluster.failover(shardOf: target)
            try await waitUntil(timeout: .seconds(20), "a second gap") {
                watch.stdout.components(separatedBy: #""event":"gap""#).count == 3
            }
            try await fixture.storeSession(expiresIn: .seconds(60))

            let status = try await watch.waitForExit()
            #expect(status == 0, "\(watch.stderr)")
            let events = try watch.stdout.split(separator: "\n").map { try OperatorFixture.jsonObject(String($0)) }
            #expect(
                events.map { $0["event"] as? String } == ["replaced", "gap", "replaced", "gap", "replaced"],
                "\(watch.stdout)"
            )
            #expect(events.compactMap { $0["generation"] as? Int } == [1, 2, 3])
            #expect(!watch.stdout.contains(Self.password) && !watch.stderr.contains(Self.password))
        }
    }
}
