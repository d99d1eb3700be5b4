import RedisClient
import RedisTestSupport
import Testing

@Suite("Commands and reply types", .sharedTLSServer)
struct CommandTests {
    let redis: RedisConnection
    let prefix = TestRedis.uniquePrefix("cmd")

    init() throws { redis = try sharedConnection() }

    @Test(arguments: TestWire.allCases)
    func statusReply(over wire: TestWire) async throws {
        let redis = try sharedConnection(over: wire)
        #expect(try await redis.send("SET", RedisArgument("\(prefix):s"), "v") == .status("OK"))
        #expect(try await redis.send("PING") == .status("PONG"))
    }

    @Test(arguments: TestWire.allCases)
    func integerReply(over wire: TestWire) async throws {
        let redis = try sharedConnection(over: wire)
        let key = "\(prefix):counter"
        #expect(try await redis.send("INCR", RedisArgument(key)) == .integer(1))
        #expect(try await redis.send("INCRBY", RedisArgument(key), 41) == .integer(42))
        #expect(try await redis.send("DECRBY", RedisArgument(key), 100) == .integer(-58))
        #expect(try await redis.send("GET", RedisArgument(key)).int == -58)
    }

    @Test(arguments: TestWire.allCases)
    func bulkReply(over wire: TestWire) async throws {
        let redis = try sharedConnection(over: wire)
        let key = "\(prefix):bulk"
        try await redis.send("SET", RedisArgument(key), "héllo wörld")
        let reply = try await redis.send("GET", RedisArgument(key))
        #expect(reply == .bulk(Array("héllo wörld".utf8)))
        #expect(reply.string == "héllo wörld")
    }

    @Test(arguments: TestWire.allCases)
    func nilReply(over wire: TestWire) async throws {
        let redis = try sharedConnection(over: wire)
        let reply = try await redis.send("GET", RedisArgument("\(prefix):missing"))
        #expect(reply == .null)
        #expect(reply.isNull)
        // A nil array (a timed-out BLPOP) is .null too.
        #expect(try await redis.send("BLPOP", RedisArgument("\(prefix):empty-list"), "0.01") == .null)
    }

    @Test(arguments: TestWire.allCases)
    func arrayReplies(over wire: TestWire) async throws {
        let redis = try sharedConnection(over: wire)
        let list = "\(prefix):list"
        #expect(try await redis.send("RPUSH", RedisArgument(list), "a", "b", "c") == .integer(3))
        #expect(
            try await redis.send("LRANGE", RedisArgument(list), 0, -1)
                == .array([.bulk(Array("a".utf8)), .bulk(Array("b".utf8)), .bulk(Array("c".utf8))])
        )
        #expect(try await redis.send("LRANGE", RedisArgument("\(prefix):nolist"), 0, -1) == .array([]))

        try await redis.send("MSET", RedisArgument("\(prefix):m1"), "one", RedisArgument("\(prefix):m3"), "three")
        let mget = try await redis.send(
            "MGET",
            RedisArgument("\(prefix):m1"),
            RedisArgument("\(prefix):m2"),
            RedisArgument("\(prefix):m3")
        )
        #expect(mget == .array([.bulk(Array("one".utf8)), .null, .bulk(Array("three".utf8))]))

        let hash = "\(prefix):hash"
        try await redis.send("HSET", RedisArgument(hash), "f1", "v1", "f2", RedisArgument([0, 255]))
        #expect(try await redis.send("HGETALL", RedisArgument(hash)).hash == ["f1": Array("v1".utf8), "f2": [0, 255]])
    }

    @Test(arguments: TestWire.allCases)
    func nestedArraysFromEval(over wire: TestWire) async throws {
        let redis = try sharedConnection(over: wire)
        let reply = try await redis.send(
            "EVAL",
            "return {1, {2, {'three', {}}}, redis.status_reply('FINE'), redis.error_reply('MYERR nested'), 'x'}",
            0
        )
        #expect(
            reply
                == .array([
                    .integer(1),
                    .array([.integer(2), .array([.bulk(Array("three".utf8)), .array([])])]),
                    .status("FINE"),
                    .error("MYERR nested"),
                    .bulk(Array("x".utf8)),
                ])
        )
    }

    @Test(arguments: TestWire.allCases)
    func errorRepliesThrow(over wire: TestWire) async throws {
        let redis = try sharedConnection(over: wire)
        let key = "\(prefix):string"
        try await redis.send("SET", RedisArgument(key), "x")
        let wrongType = await redisError { try await redis.send("LPUSH", RedisArgument(key), "y") }
        #expect(wrongType?.code == .server)
        #expect(wrongType?.message.hasPrefix("WRONGTYPE") == true)
        #expect(wrongType?.serverErrorPrefix == "WRONGTYPE")
        #expect(wrongType?.isConnectionError == false)

        let unknown = await redisError { try await redis.send("NOSUCHCOMMAND", "a") }
        #expect(unknown?.code == .server)
        #expect(unknown?.message.hasPrefix("ERR") == true)

        let arity = await redisError { try await redis.send("GET") }
        #expect(arity?.code == .server)
        #expect(arity?.message.hasPrefix("ERR") == true)

        // The connection is fine afterwards and replies stay matched to their commands.
        #expect(try await redis.send("GET", RedisArgument(key)) == .bulk(Array("x".utf8)))
    }

    @Test func emptyCommandIsRefusedWithoutDesynchronizing() async throws {
        let key = "\(prefix):after-empty"
        try await redis.send("SET", RedisArgument(key), "mine")
        let error = await redisError { try await redis.send(RedisCommand([])) }
        #expect(error?.code == .invalidConfiguration)
        let pipelineError = await redisError {
            try await redis.pipeline([RedisCommand("INCR", RedisArgument("\(prefix):never")), RedisCommand([])])
        }
        #expect(pipelineError?.code == .invalidConfiguration)
        // Nothing of the refused pipeline ran, and the next reply is the next command's.
        #expect(try await redis.send("GET", RedisArgument(key)) == .bulk(Array("mine".utf8)))
        #expect(try await redis.send("EXISTS", RedisArgument("\(prefix):never")) == .integer(0))
    }

    @Test(arguments: TestWire.allCases)
    func binaryValuesWithEveryByte(over wire: TestWire) async throws {
        let redis = try sharedConnection(over: wire)
        let value = allByteValues(repeating: 4)
        let key = "\(prefix):binary"
        try await redis.send("SET", RedisArgument(key), RedisArgument(value))
        #expect(try await redis.send("GET", RedisArgument(key)) == .bulk(value))
        #expect(try await redis.send("STRLEN", RedisArgument(key)) == .integer(1024))
        // The protocol's own delimiters inside a value.
        let tricky: [UInt8] = Array("\r\n$5\r\n*1\r\n+OK\r\n".utf8) + [0, 0, 13, 10, 0]
        try await redis.send("SET", RedisArgument(key), RedisArgument(tricky))
        #expect(try await redis.send("GET", RedisArgument(key)).bytes == tricky)
    }

    @Test(arguments: TestWire.allCases)
    func emptyValuesAndArguments(over wire: TestWire) async throws {
        let redis = try sharedConnection(over: wire)
        let key = "\(prefix):empty"
        try await redis.send("SET", RedisArgument(key), "")
        #expect(try await redis.send("GET", RedisArgument(key)) == .bulk([]))
        #expect(try await redis.send("STRLEN", RedisArgument(key)) == .integer(0))
        try await redis.send("SET", RedisArgument(key), RedisArgument([UInt8]()))
        #expect(try await redis.send("EXISTS", RedisArgument(key)) == .integer(1))
        // An empty argument that is the last of the command (the packed buffer ends right there).
        try await redis.send("HSET", RedisArgument("\(prefix):h"), "field", "")
        #expect(try await redis.send("HGET", RedisArgument("\(prefix):h"), "field") == .bulk([]))
    }

    @Test func binaryKeys() async throws {
        let key: [UInt8] = Array(prefix.utf8) + [0, 1, 13, 10, 255, 0x80, 32]
        let otherKey: [UInt8] = Array(prefix.utf8) + [0, 1, 13, 10, 255, 0x80, 33]
        try await redis.send("SET", RedisArgument(key), "binary-key")
        #expect(try await redis.send("GET", RedisArgument(key)) == .bulk(Array("binary-key".utf8)))
        #expect(try await redis.send("GET", RedisArgument(otherKey)) == .null)
        let keys = try await redis.send("KEYS", RedisArgument(Array(prefix.utf8) + Array("*".utf8)))
        #expect(keys.array?.contains(.bulk(key)) == true)
    }

    @Test(arguments: TestWire.allCases)
    func oneMebibyteValue(over wire: TestWire) async throws {
        let redis = try sharedConnection(over: wire)
        let value = pseudoRandomBytes(count: 1 << 20)
        let key = "\(prefix):1mib"
        try await redis.send("SET", RedisArgument(key), RedisArgument(value))
        let reply = try await redis.send("GET", RedisArgument(key))
        #expect(reply.bytes?.count == value.count)
        #expect(reply == .bulk(value))
        try await redis.send("DEL", RedisArgument(key))
    }

    @Test(arguments: TestWire.allCases)
    func eightMebibyteValueWhileOthersUseTheConnection(over wire: TestWire) async throws {
        let redis = try sharedConnection(over: wire)
        let value = pseudoRandomBytes(count: 8 << 20, seed: 7)
        let key = "\(prefix):8mib"
        let prefix = self.prefix
        // Small commands from other tasks interleave with the big write and read on the same connection.
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await redis.send("SET", RedisArgument(key), RedisArgument(value))
                let reply = try await redis.send("GET", RedisArgument(key))
                #expect(reply == .bulk(value))
            }
            for index in 0..<20 {
                group.addTask {
                    let small = "\(prefix):small:\(index)"
                    try await redis.send("SET", RedisArgument(small), RedisArgument(index))
                    #expect(try await redis.send("GET", RedisArgument(small)).int == Int64(index))
                }
            }
            try await group.waitForAll()
        }
        try await redis.send("DEL", RedisArgument(key))
    }

    @Test func selectDatabase() async throws {
        let key = "\(prefix):in-db-3"
        var configuration = try RedisConfiguration(url: TestRedis.url)
        configuration.database = 3
        let db3 = try RedisConnection(configuration: configuration)
        #expect(try await db3.send("SET", RedisArgument(key), "three") == .status("OK"))
        let db0 = try sharedConnection(database: 0)
        #expect(try await db0.send("EXISTS", RedisArgument(key)) == .integer(0))
        let otherDB3 = try sharedConnection(database: 3)
        #expect(try await otherDB3.send("GET", RedisArgument(key)) == .bulk(Array("three".utf8)))
        try await db3.send("DEL", RedisArgument(key))
    }

    @Test func databaseFromURLPath() async throws {
        let base = try RedisConfiguration(url: TestRedis.url)
        guard case .tcp(let host, let port) = base.endpoint, base.password == nil, base.database == 0 else { return }
        let key = "\(prefix):url-db"
        let db3 = try RedisConnection(url: "redis://\(host):\(port)/3")
        try await db3.send("SET", RedisArgument(key), "three")
        #expect(try await redis.send("EXISTS", RedisArgument(key)) == .integer(0))
        #expect(try await sharedConnection(database: 3).send("GET", RedisArgument(key)) == .bulk(Array("three".utf8)))
        try await db3.send("DEL", RedisArgument(key))
    }

    @Test func databaseOutOfRangeFailsClearly() async throws {
        var configuration = try RedisConfiguration(url: TestRedis.url)
        configuration.database = 99999
        let connection = try RedisConnection(configuration: configuration)
        let error = await redisError { try await connection.send("PING") }
        #expect(error?.code == .authenticationFailed)
        #expect(error?.isConnectionError == false)
        #expect(error?.message.contains("SELECT 99999") == true)
        #expect(error?.message.contains("out of range") == true)
        // Still failing the same way on the next command: it reconnects, and fails, again.
        #expect(await redisError { try await connection.send("PING") }?.code == .authenticationFailed)
    }

    @Test func clientNameIsSet() async throws {
        var configuration = try RedisConfiguration(url: TestRedis.url)
        let name = "t-\(prefix.replacingOccurrences(of: ":", with: "-"))"
        configuration.clientName = name
        let connection = try RedisConnection(configuration: configuration)
        #expect(try await connection.send("CLIENT", "GETNAME") == .bulk(Array(name.utf8)))
    }

    @Test func commandsAfterCloseFail() async throws {
        let connection = try sharedConnection()
        #expect(try await connection.send("PING") == .status("PONG"))
        connection.close()
        let error = await redisError { try await connection.send("PING") }
        #expect(error?.code == .clientClosed)
        let pipelineError = await redisError { try await connection.pipeline([RedisCommand("PING")]) }
        #expect(pipelineError?.code == .clientClosed)
        // close() is idempotent.
        connection.close()
        #expect(await redisError { try await connection.send("PING") }?.code == .clientClosed)
    }

    @Test func closeBeforeFirstCommand() async throws {
        let connection = try sharedConnection()
        connection.close()
        #expect(await redisError { try await connection.send("PING") }?.code == .clientClosed)
    }
}
