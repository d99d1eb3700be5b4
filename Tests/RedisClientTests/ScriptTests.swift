import RedisClient
import RedisTestSupport
import Testing

@Suite("Lua scripts", .sharedTLSServer)
struct ScriptTests {
    @Test(arguments: [
        ("abc", "a9993e364706816aba3e25717850c26c9cd0d89d"),
        ("", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        ("The quick brown fox jumps over the lazy dog", "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "84983e441c3bd26ebaae4aa1f95129e5e54670f1"),
    ])
    func sha1KnownVectors(source: String, digest: String) {
        #expect(RedisScript(source).sha1 == digest)
        #expect(RedisScript(source).source == source)
    }

    @Test(arguments: TestWire.allCases)
    func sha1MatchesScriptLoad(over wire: TestWire) async throws {
        let redis = try sharedConnection(over: wire)
        // Lengths around the 55/56/64-byte padding boundaries, multi-block sources and non-ASCII text.
        var sources = ["return 1", "return 'héllo wörld ✓'", "return redis.call('GET', KEYS[1])"]
        for length in [54, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000] {
            let comment = String(repeating: "x", count: max(0, length - "return 0 --".count))
            sources.append("return 0 --" + comment)
        }
        for source in sources {
            let loaded = try await redis.send("SCRIPT", "LOAD", RedisArgument(source))
            #expect(loaded.string == RedisScript(source).sha1, "source of \(source.utf8.count) bytes")
        }
    }

    @Test(arguments: TestWire.allCases)
    func runUsesEvalshaWithKeysAndArguments(over wire: TestWire) async throws {
        let redis = try sharedConnection(over: wire)
        let key = "\(TestRedis.uniquePrefix("script")):k"
        let script = RedisScript("redis.call('SET', KEYS[1], ARGV[1]); return {KEYS[1], ARGV[1], #ARGV}")
        try await redis.load([script])
        #expect(try await redis.send("SCRIPT", "EXISTS", RedisArgument(script.sha1)) == .array([.integer(1)]))
        let binary: [UInt8] = [0, 13, 10, 255]
        let reply = try await redis.run(script, keys: [RedisArgument(key)], arguments: [RedisArgument(binary), "2"])
        #expect(reply == .array([.bulk(Array(key.utf8)), .bulk(binary), .integer(2)]))
        #expect(try await redis.send("GET", RedisArgument(key)) == .bulk(binary))
        // The same reply through EVALSHA directly: run sent the SHA the server knows.
        let direct = try await redis.send(
            "EVALSHA",
            RedisArgument(script.sha1),
            1,
            RedisArgument(key),
            RedisArgument(binary),
            "2"
        )
        #expect(direct == reply)
    }

    @Test("A script followed by other commands: one round trip, sent again with EVAL when the server lost the script")
    func runFollowedBy() async throws {
        // A server of its own: SCRIPT FLUSH must not disturb other tests.
        try await withRedisServer { server in
            let redis = try RedisConnection(url: server.url)
            defer { redis.close() }
            let key = "\(TestRedis.uniquePrefix("script")):followed"
            let script = RedisScript("return redis.call('INCR', KEYS[1])")
            try await redis.send("SCRIPT", "FLUSH")
            let (first, rest) = try await redis.run(
                script,
                keys: [RedisArgument(key)],
                followedBy: [RedisCommand("GET", RedisArgument(key)), RedisCommand("WAIT", "0", "1")]
            )
            #expect(first == .integer(1))
            #expect(try rest[0].get() == .bulk(Array("1".utf8)))
            #expect(try rest[1].get() == .integer(0))
            #expect(try await redis.send("SCRIPT", "EXISTS", RedisArgument(script.sha1)) == .array([.integer(1)]))
            let (second, _) = try await redis.run(
                script,
                keys: [RedisArgument(key)],
                followedBy: [RedisCommand("PING")]
            )
            #expect(second == .integer(2))
        }
    }

    @Test(arguments: TestWire.allCases)
    func scriptErrorsAreServerErrors(over wire: TestWire) async throws {
        let redis = try sharedConnection(over: wire)
        let failing = RedisScript("return redis.error_reply('MYERR custom failure')")
        let error = await redisError { try await redis.run(failing) }
        #expect(error?.code == .server)
        #expect(error?.serverErrorPrefix == "MYERR")
        let broken = RedisScript("this is not lua")
        let syntax = await redisError { try await redis.run(broken) }
        #expect(syntax?.code == .server)
        #expect(syntax?.message.hasPrefix("ERR") == true)
        let loadError = await redisError { try await redis.load([RedisScript("return 1"), broken]) }
        #expect(loadError?.code == .server)
    }

    /// `SCRIPT FLUSH` empties the cache of the whole server: on a server of our own.
    @Test(arguments: TestWire.allCases)
    func runFallsBackToEvalAfterScriptFlush(over wire: TestWire) async throws {
        try await withRedisServer(over: wire) { server in
            let redis = try RedisConnection(configuration: configuration(for: server))
            let script = RedisScript("return tonumber(ARGV[1]) * 2")
            #expect(try await redis.run(script, arguments: ["21"]) == .integer(42))
            #expect(try await commandCalls(redis, "evalsha") == 1)
            #expect(try await commandCalls(redis, "eval") == 1)  // the NOSCRIPT fallback of the first run

            #expect(try await redis.run(script, arguments: ["5"]) == .integer(10))
            #expect(try await commandCalls(redis, "evalsha") == 2)
            #expect(try await commandCalls(redis, "eval") == 1)  // cached by the EVAL: no fallback

            #expect(try await redis.send("SCRIPT", "FLUSH") == .status("OK"))
            #expect(try await redis.send("SCRIPT", "EXISTS", RedisArgument(script.sha1)) == .array([.integer(0)]))
            #expect(try await redis.run(script, arguments: ["50"]) == .integer(100))
            #expect(try await commandCalls(redis, "evalsha") == 3)
            #expect(try await commandCalls(redis, "eval") == 2)
            #expect(try await redis.send("SCRIPT", "EXISTS", RedisArgument(script.sha1)) == .array([.integer(1)]))

            // After a restart the cache is empty too.
            try await server.stop()
            try await server.start()
            #expect(try await redis.send("SCRIPT", "EXISTS", RedisArgument(script.sha1)) == .array([.integer(0)]))
            #expect(try await redis.run(script, arguments: ["1"]) == .integer(2))
        }
    }

    /// The `calls=` count of `cmdstat_<name>` in `INFO commandstats`, 0 when absent.
    private func commandCalls(_ redis: RedisConnection, _ name: String) async throws -> Int {
        let info = try #require(try await redis.send("INFO", "commandstats").string)
        for line in info.split(whereSeparator: \.isNewline) where line.hasPrefix("cmdstat_\(name):") {
            let fields = line.dropFirst("cmdstat_\(name):".count).split(separator: ",")
            let calls = try #require(fields.first { $0.hasPrefix("calls=") })
            return try #require(Int(calls.dropFirst("calls=".count)))
        }
        return 0
    }
}
