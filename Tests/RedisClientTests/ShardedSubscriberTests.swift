import Foundation
import RedisTestSupport
import Testing

@testable import RedisClient

/// A sharded subscriber (one cluster node's, as the cluster layer will run it) against real cluster-enabled
/// `redis-server`s of the test's own: `SSUBSCRIBE`, `SPUBLISH`, and what the server does when a slot moves.
@Suite("Sharded subscriber on cluster nodes", .timeLimit(.minutes(1)))
struct ShardedSubscriberTests {
    /// The channels each `onMoved` call reported.
    typealias Moves = Locked<[[String]]>

    static func subscriber(to server: RedisServerProcess, name: String, moves: Moves? = nil) throws -> RedisSubscriber {
        try RedisSubscriber(
            configuration: RedisConfiguration(url: server.url),
            name: name,
            connectTo: .server,
            mode: .sharded,
            onMoved: moves.map { moves -> @Sendable ([String]) -> Void in
                { channels in moves.withLock { $0.append(channels) } }
            }
        )
    }

    /// A channel of the test's own, and the slot it hashes to.
    static func channel(on connection: RedisConnection) async throws -> (String, Int64) {
        let channel = "{\(TestRedis.uniquePrefix("sharded"))}:events"
        let slot = try await connection.send("CLUSTER", "KEYSLOT", RedisArgument(channel)).int
        return (channel, try #require(slot))
    }

    @Test("A slot given to another node is reported moved; its subscription is carried there with a gap")
    func slotMovesToAnotherNode() async throws {
        try await withClusterNode { a, adminA, _ in
            try await withClusterNode { b, adminB, busB in
                _ = try await adminA.send("CLUSTER", "ADDSLOTSRANGE", "0", "16383")
                _ = try await adminA.send(
                    "CLUSTER",
                    "MEET",
                    "127.0.0.1",
                    RedisArgument(String(b.port)),
                    RedisArgument(String(busB))
                )
                try await waitUntilClusterIsOK([adminA, adminB], nodes: 2)
                let idA = try #require(try await adminA.send("CLUSTER", "MYID").string)
                let idB = try #require(try await adminB.send("CLUSTER", "MYID").string)
                let (channel, slot) = try await Self.channel(on: adminA)

                let moves = Moves([])
                let subscriberA = try Self.subscriber(to: a, name: "sharded-a", moves: moves)
                let subscriberB = try Self.subscriber(to: b, name: "sharded-b")
                defer {
                    subscriberA.close()
                    subscriberB.close()
                }
                try await subscriberA.subscribe(to: [channel]) { subscription in
                    try await collecting(subscription) { log in
                        #expect(try await adminA.send("SPUBLISH", RedisArgument(channel), "one").int == 1)
                        try await waitUntil(timeout: .seconds(5), "the message published on the owner") {
                            log.contains(channel: channel, payload: Array("one".utf8))
                        }

                        // The slot moves to B, the way a resharding moves it (importing on B first, so B's claim
                        // gets a new config epoch and wins over A's gossip): A drops the channel and pushes
                        // sunsubscribe.
                        let slotArgument = RedisArgument(String(slot))
                        _ = try await adminB.send("CLUSTER", "SETSLOT", slotArgument, "IMPORTING", RedisArgument(idA))
                        _ = try await adminA.send("CLUSTER", "SETSLOT", slotArgument, "MIGRATING", RedisArgument(idB))
                        for admin in [adminB, adminA] {
                            _ = try await admin.send("CLUSTER", "SETSLOT", slotArgument, "NODE", RedisArgument(idB))
                        }
                        try await waitUntil(timeout: .seconds(5), "the subscriber reports the channel moved") {
                            moves.value.contains([channel])
                        }
                        #expect(!subscriberA.isSubscribedToAll)
                        let redirected = await redisError {
                            try await adminA.send("SPUBLISH", RedisArgument(channel), "x")
                        }
                        #expect(redirected?.serverErrorPrefix == "MOVED")

                        // What the cluster layer does: carry the subscription to the new owner.
                        let registrations = subscriberA.driver!.release(channels: [channel])
                        #expect(registrations.count == 1)
                        #expect(registrations.values.first?.gapped == true)
                        subscriberB.driver!.adopt(registrations)
                        subscriberA.loop!.wake()
                        subscriberB.loop!.wake()
                        try await waitUntil(timeout: .seconds(5), "a gap once the new node confirms the channel") {
                            log.events.contains(.gap)
                        }
                        #expect(subscriberA.isSubscribedToAll, "nothing is left on A")
                        #expect(subscriberB.isSubscribedToAll)
                        #expect(try await adminB.send("SPUBLISH", RedisArgument(channel), "two").int == 1)
                        try await waitUntil(timeout: .seconds(5), "the message published on the new owner") {
                            log.hasMessageAfterGap(channel: channel)
                        }

                        // Leaving where it now is: B unsubscribes the channel.
                        for (id, registration) in registrations {
                            subscriberB.driver!.unregister(id: id, channels: registration.channels)
                        }
                        subscriberB.loop!.wake()
                        try await waitUntil(timeout: .seconds(5), "B drops the channel") {
                            let reply = try await adminB.send("PUBSUB", "SHARDNUMSUB", RedisArgument(channel))
                            return reply.array?.last?.int == 0
                        }
                    }
                }

                // Subscribing on the old node now: MOVED fails the subscription (its caller subscribes again where
                // the channel is served) and is reported as a move.
                let error = await redisError { try await subscriberA.subscribe(to: [channel]) { _ in } }
                #expect(error?.code == .moved)
                #expect(
                    error?.message.hasPrefix("MOVED \(slot) 127.0.0.1:\(b.port)") == true,
                    "\(String(describing: error))"
                )
                try await waitUntil(timeout: .seconds(5), "the MOVED answer reported as a move") {
                    moves.value.filter { $0 == [channel] }.count == 2
                }
            }
        }
    }

    @Test("A deleted slot is reported moved; kept on its node, the channel is retried until served again")
    func slotDeletedAndAddedBack() async throws {
        try await withClusterNode { node, admin, _ in
            _ = try await admin.send("CLUSTER", "ADDSLOTSRANGE", "0", "16383")
            try await waitUntilClusterIsOK([admin], nodes: 1)
            let (channel, slot) = try await Self.channel(on: admin)
            let moves = Moves([])
            let subscriber = try Self.subscriber(to: node, name: "sharded-delslots", moves: moves)
            defer { subscriber.close() }
            try await subscriber.subscribe(to: [channel]) { subscription in
                try await collecting(subscription) { log in
                    _ = try await admin.send("CLUSTER", "DELSLOTS", RedisArgument(String(slot)))
                    try await waitUntil(timeout: .seconds(5), "the subscriber reports the channel moved") {
                        moves.value == [[channel]]
                    }
                    // No node serves the slot: the cluster layer keeps the channel here. SSUBSCRIBE is answered
                    // CLUSTERDOWN and retried a second later, until the slot is back.
                    subscriber.driver!.adopt(subscriber.driver!.release(channels: [channel]))
                    subscriber.loop!.wake()
                    _ = try await admin.send("CLUSTER", "ADDSLOTS", RedisArgument(String(slot)))
                    try await waitUntil(timeout: .seconds(10), "the channel confirmed again, with a gap") {
                        log.events.contains(.gap) && subscriber.isSubscribedToAll
                    }
                    #expect(try await admin.send("SPUBLISH", RedisArgument(channel), "back").int == 1)
                    try await waitUntil(timeout: .seconds(5), "the message after the gap") {
                        log.hasMessageAfterGap(channel: channel)
                    }
                }
            }
        }
    }

    @Test("A node that cannot be reached has its channels reported for re-routing, and is still retried")
    func unreachableNode() async throws {
        // Sharded pub/sub also works on a server without cluster mode, which is all this test needs.
        try await withRedisServer { server in
            let moves = Moves([])
            let subscriber = try Self.subscriber(to: server, name: "sharded-down", moves: moves)
            defer { subscriber.close() }
            let channel = TestRedis.uniquePrefix("sharded-down")
            let publisher = try RedisConnection(configuration: RedisConfiguration(url: server.url), name: "publisher")
            defer { publisher.close() }
            try await subscriber.subscribe(to: [channel]) { subscription in
                try await collecting(subscription) { log in
                    try await server.stop()
                    try await waitUntil(timeout: .seconds(5), "the failed reconnect reports the channel") {
                        moves.value.contains([channel])
                    }
                    try await server.start()
                    try await waitUntil(timeout: .seconds(5), "resubscribed on the same node, with a gap") {
                        log.events.contains(.gap) && subscriber.isSubscribedToAll
                    }
                    #expect(try await publisher.send("SPUBLISH", RedisArgument(channel), "again").int == 1)
                    try await waitUntil(timeout: .seconds(5), "the message after the gap") {
                        log.hasMessageAfterGap(channel: channel)
                    }
                }
            }
        }
    }
}

/// Runs `body` with a cluster-enabled `redis-server` of the test's own (no slots yet), an admin connection to it, and
/// its cluster bus port (for `CLUSTER MEET`).
func withClusterNode<T>(
    isolation: isolated (any Actor)? = #isolation,
    _ body: (RedisServerProcess, RedisConnection, Int) async throws -> T
) async throws -> T {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cluster-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let busPort = try freeLoopbackPort()
    let arguments = [
        "--cluster-enabled", "yes", "--cluster-port", String(busPort),
        "--cluster-config-file", directory.appendingPathComponent("nodes.conf").path, "--dir", directory.path,
    ]
    return try await withRedisServer(arguments) { server in
        let admin = try RedisConnection(configuration: RedisConfiguration(url: server.url), name: "cluster-admin")
        defer { admin.close() }
        return try await body(server, admin, busPort)
    }
}

/// Waits until every one of `admins`' nodes knows `nodes` nodes and says the cluster is OK.
func waitUntilClusterIsOK(_ admins: [RedisConnection], nodes: Int) async throws {
    try await waitUntil(timeout: .seconds(10), "cluster_state:ok on every node") {
        for admin in admins {
            let info = try await admin.send("CLUSTER", "INFO").string ?? ""
            guard info.contains("cluster_state:ok"), info.contains("cluster_known_nodes:\(nodes)\r") else {
                return false
            }
        }
        return true
    }
}
