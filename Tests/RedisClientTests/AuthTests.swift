import RedisClient
import RedisTestSupport
import Testing

/// AUTH and ACL change the whole server: every test here runs its own.
@Suite("AUTH and ACL")
struct AuthTests {
    @Test func requirepass() async throws {
        try await withRedisServer(["--requirepass", "secret"]) { server in
            // The right password.
            let good = try RedisConnection(configuration: configuration(for: server, userInfo: ":secret@"))
            #expect(try await good.send("PING") == .status("PONG"))
            #expect(try await good.send("SET", "k", "v") == .status("OK"))

            // A wrong one: authenticationFailed, and the message does not repeat it.
            let bad = try RedisConnection(configuration: configuration(for: server, userInfo: ":WrongPassw0rd@"))
            let error = await redisError { try await bad.send("PING") }
            #expect(error?.code == .authenticationFailed)
            #expect(error?.isConnectionError == false)
            #expect(error?.message.contains("WrongPassw0rd") == false)
            #expect(error.map { "\($0)" }?.contains("WrongPassw0rd") == false)

            // No AUTH at all: the server refuses the command with NOAUTH.
            let none = try RedisConnection(configuration: configuration(for: server))
            let noAuth = await redisError { try await none.send("GET", "k") }
            #expect(noAuth?.code == .server)
            #expect(noAuth?.serverErrorPrefix == "NOAUTH")
        }
    }

    @Test func passwordOnlyShorthandAndPercentEncoding() async throws {
        try await withRedisServer(["--requirepass", "p@ss:w/rd"]) { server in
            let encoded = try RedisConnection(configuration: configuration(for: server, userInfo: ":p%40ss%3Aw%2Frd@"))
            #expect(try await encoded.send("PING") == .status("PONG"))
            let shorthand = try RedisConnection(url: "redis://p%40ss%3Aw%2Frd@127.0.0.1:\(server.port)")
            #expect(try await shorthand.send("PING") == .status("PONG"))
        }
    }

    @Test func aclUser() async throws {
        try await withRedisServer { server in
            let admin = try RedisConnection(configuration: configuration(for: server))
            #expect(try await admin.send("ACL", "SETUSER", "alice", "on", ">pw", "~*", "+@all") == .status("OK"))
            #expect(
                try await admin.send("ACL", "SETUSER", "bob", "on", ">bobpw", "~bob:*", "+get", "+set") == .status("OK")
            )

            let alice = try RedisConnection(configuration: configuration(for: server, userInfo: "alice:pw@"))
            #expect(try await alice.send("ACL", "WHOAMI") == .bulk(Array("alice".utf8)))
            #expect(try await alice.send("SET", "anything", "1") == .status("OK"))

            // The user's permissions apply: bob may only touch bob:* keys with GET/SET.
            let bob = try RedisConnection(configuration: configuration(for: server, userInfo: "bob:bobpw@"))
            #expect(try await bob.send("SET", "bob:x", "1") == .status("OK"))
            let denied = await redisError { try await bob.send("SET", "alice:x", "1") }
            #expect(denied?.code == .server)
            #expect(denied?.serverErrorPrefix == "NOPERM")

            // A wrong password for an ACL user.
            let wrong = try RedisConnection(
                configuration: configuration(for: server, userInfo: "alice:NotHerPassw0rd@")
            )
            let error = await redisError { try await wrong.send("PING") }
            #expect(error?.code == .authenticationFailed)
            #expect(error?.message.contains("NotHerPassw0rd") == false)

            // An unknown user.
            let nobody = try RedisConnection(configuration: configuration(for: server, userInfo: "mallory:pw@"))
            #expect(await redisError { try await nobody.send("PING") }?.code == .authenticationFailed)

            // A disabled user.
            #expect(try await admin.send("ACL", "SETUSER", "alice", "off") == .status("OK"))
            let disabled = try RedisConnection(configuration: configuration(for: server, userInfo: "alice:pw@"))
            #expect(await redisError { try await disabled.send("PING") }?.code == .authenticationFailed)
        }
    }

    @Test func authAndSelectTogether() async throws {
        try await withRedisServer(["--requirepass", "secret"]) { server in
            let db5 = try RedisConnection(configuration: configuration(for: server, userInfo: ":secret@", database: 5))
            try await db5.send("SET", "where", "five")
            let db0 = try RedisConnection(configuration: configuration(for: server, userInfo: ":secret@"))
            #expect(try await db0.send("EXISTS", "where") == .integer(0))
            #expect(try await db0.send("SELECT", 5) == .status("OK"))
            #expect(try await db0.send("GET", "where") == .bulk(Array("five".utf8)))
        }
    }

    @Test func reconnectAuthenticatesAgain() async throws {
        try await withRedisServer(["--requirepass", "secret"]) { server in
            let redis = try RedisConnection(
                configuration: configuration(for: server, userInfo: ":secret@", database: 2)
            )
            try await redis.send("SET", "k", "before")
            let admin = try RedisConnection(configuration: configuration(for: server, userInfo: ":secret@"))
            // Kill the client's connection from the server side; the next command reconnects, AUTHs and SELECTs.
            let killed = try await admin.send("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
            #expect(killed.int ?? 0 >= 1)
            try await waitUntil(timeout: .seconds(5), "the command connection reconnects") {
                (try? await redis.send("GET", "k")) == .bulk(Array("before".utf8))
            }
            #expect(try await redis.send("CLIENT", "INFO").string?.contains(" db=2 ") == true)
        }
    }
}

/// Pub/sub with AUTH and ACL, on servers of our own.
@Suite("Subscriber AUTH and ACL")
struct SubscriberAuthTests {
    @Test func subscriberAuthenticates() async throws {
        try await withRedisServer(["--requirepass", "secret"]) { server in
            let good = try configuration(for: server, userInfo: ":secret@")
            let subscriber = try RedisSubscriber(configuration: good)
            defer { subscriber.close() }
            let publisher = try RedisConnection(configuration: good)
            try await withTimeout(.seconds(20), "subscribe with AUTH") {
                try await subscriber.subscribe(to: ["news"]) { subscription in
                    try await collecting(subscription) { log in
                        #expect(try await publisher.send("PUBLISH", "news", "hi") == .integer(1))
                        try await waitUntil(timeout: .seconds(5), "the message") {
                            log.contains(channel: "news", payload: Array("hi".utf8))
                        }
                    }
                }
            }

            let wrong = try RedisSubscriber(configuration: configuration(for: server, userInfo: ":WrongPassw0rd@"))
            defer { wrong.close() }
            let error = try await withTimeout(.seconds(20), "subscribe with a wrong password fails") {
                await redisError { try await wrong.subscribe(to: ["news"]) { _ in } }
            }
            #expect(error?.code == .authenticationFailed)
            #expect(error?.message.contains("WrongPassw0rd") == false)
        }
    }

    @Test func forbiddenChannelFailsInsteadOfHanging() async throws {
        try await withRedisServer { server in
            let admin = try RedisConnection(configuration: configuration(for: server))
            let setUser = try await admin.send(
                "ACL",
                "SETUSER",
                "carol",
                "on",
                ">pw",
                "~*",
                "+@all",
                "resetchannels",
                "&allowed:*"
            )
            #expect(setUser == .status("OK"))
            let carol = try configuration(for: server, userInfo: "carol:pw@")
            let subscriber = try RedisSubscriber(configuration: carol)
            defer { subscriber.close() }
            let publisher = try RedisConnection(configuration: carol)
            try await withTimeout(.seconds(30), "subscriptions on a restricted user") {
                try await subscriber.subscribe(to: ["allowed:1"]) { allowed in
                    try await collecting(allowed) { log in
                        // A channel the user may not use: the server's NOPERM, not a hang or a reconnect storm.
                        let error = await redisError { try await subscriber.subscribe(to: ["secret:1"]) { _ in } }
                        #expect(error?.code == .server)
                        #expect(error?.serverErrorPrefix == "NOPERM")
                        // Again, and mixed with a permitted channel: the whole subscribe fails.
                        let again = await redisError { try await subscriber.subscribe(to: ["secret:1"]) { _ in } }
                        #expect(again?.serverErrorPrefix == "NOPERM")
                        let mixed = await redisError {
                            try await subscriber.subscribe(to: ["allowed:2", "secret:2"]) { _ in }
                        }
                        #expect(mixed?.serverErrorPrefix == "NOPERM")
                        try await waitUntil(timeout: .seconds(5), "allowed:2 is not left subscribed") {
                            try await publisher.send("PUBSUB", "NUMSUB", "allowed:2").array?.last == .integer(0)
                        }
                        // The permitted subscription is unharmed: it still receives, and the connection was never
                        // dropped (no gap).
                        #expect(try await publisher.send("PUBLISH", "allowed:1", "still here") == .integer(1))
                        try await waitUntil(timeout: .seconds(5), "the allowed channel delivers") {
                            log.contains(channel: "allowed:1", payload: Array("still here".utf8))
                        }
                        #expect(!log.events.contains(.gap))
                        #expect(subscriber.isSubscribedToAll)
                    }
                }
            }
        }
    }

    /// A channel revoked by ACL while subscribed: the server drops the subscriber, the resubscription is refused and
    /// retried calmly (not a reconnect storm), and once the channel is allowed again messages flow after a gap.
    @Test func revokedChannelIsRetriedCalmlyAndRecovers() async throws {
        try await withRedisServer { server in
            let admin = try RedisConnection(configuration: configuration(for: server))
            #expect(
                try await admin.send("ACL", "SETUSER", "dave", "on", ">pw", "~*", "+@all", "resetchannels", "&news")
                    == .status("OK")
            )
            let dave = try configuration(for: server, userInfo: "dave:pw@")
            let subscriber = try RedisSubscriber(configuration: dave)
            defer { subscriber.close() }
            try await withTimeout(.seconds(40), "revoke and allow again") {
                try await subscriber.subscribe(to: ["news"]) { subscription in
                    try await collecting(subscription) { log in
                        #expect(try await admin.send("PUBLISH", "news", "before") == .integer(1))
                        try await waitUntil(timeout: .seconds(5), "before") { log.events.count == 1 }
                        let connectionsBefore = try await totalConnections(admin)

                        // Revoking the channel disconnects the subscriber; its resubscription is refused.
                        #expect(try await admin.send("ACL", "SETUSER", "dave", "resetchannels") == .status("OK"))
                        try await waitUntil(timeout: .seconds(10), "the refusal is retried") {
                            try await deniedCount(admin, channel: "news") >= 2
                        }
                        // Two refusals, a second or so apart: a handful of connections, not a storm.
                        #expect(try await totalConnections(admin) - connectionsBefore <= 5)

                        #expect(try await admin.send("ACL", "SETUSER", "dave", "&news") == .status("OK"))
                        try await waitUntil(timeout: .seconds(10), "a gap, then messages again") {
                            _ = try await admin.send("PUBLISH", "news", "after")
                            return log.hasMessageAfterGap(channel: "news")
                        }
                    }
                }
            }
        }
    }
}

/// `total_connections_received` from `INFO stats`.
private func totalConnections(_ redis: RedisConnection) async throws -> Int {
    let info = try #require(try await redis.send("INFO", "stats").string)
    let line = try #require(
        info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("total_connections_received:") }
    )
    return try #require(Int(line.dropFirst("total_connections_received:".count)))
}

/// How many times the ACL log saw a denied access to `channel`.
private func deniedCount(_ redis: RedisConnection, channel: String) async throws -> Int64 {
    var total: Int64 = 0
    for entry in try await redis.send("ACL", "LOG").array ?? [] {
        let fields = entry.array ?? []
        var values: [String: RedisValue] = [:]
        for index in stride(from: 0, to: fields.count - 1, by: 2) {
            if let key = fields[index].string { values[key] = fields[index + 1] }
        }
        if values["reason"]?.string == "channel", values["object"]?.string == channel {
            total += values["count"]?.int ?? 0
        }
    }
    return total
}
