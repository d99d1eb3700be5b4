import RedisClient
import RedisTestSupport
import Testing

@Suite("Pipelining", .sharedTLSServer)
struct PipelineTests {
    let redis: RedisConnection
    let prefix = TestRedis.uniquePrefix("pipe")

    init() throws { redis = try sharedConnection() }

    @Test(arguments: TestWire.allCases)
    func thousandCommandsInOrder(over wire: TestWire) async throws {
        let redis = try sharedConnection(over: wire)
        let key = "\(prefix):counter"
        var commands: [RedisCommand] = []
        for index in 0..<1000 {
            if index % 2 == 0 {
                commands.append(RedisCommand("INCR", RedisArgument(key)))
            } else {
                commands.append(RedisCommand("ECHO", RedisArgument("echo-\(index)")))
            }
        }
        let replies = try await redis.pipeline(commands)
        #expect(replies.count == 1000)
        for (index, reply) in replies.enumerated() {
            let value = try reply.get()
            if index % 2 == 0 {
                #expect(value == .integer(Int64(index / 2 + 1)), "reply \(index)")
            } else {
                #expect(value == .bulk(Array("echo-\(index)".utf8)), "reply \(index)")
            }
        }
        #expect(try await redis.send("GET", RedisArgument(key)).int == 500)
    }

    @Test(arguments: TestWire.allCases)
    func serverErrorInTheMiddle(over wire: TestWire) async throws {
        let redis = try sharedConnection(over: wire)
        let list = "\(prefix):list"
        let replies = try await redis.pipeline([
            RedisCommand("SET", RedisArgument("\(prefix):a"), "1"),
            RedisCommand("RPUSH", RedisArgument(list), "x"),
            RedisCommand("INCR", RedisArgument(list)),  // WRONGTYPE
            RedisCommand("NOSUCHCOMMAND"),  // ERR unknown command
            RedisCommand("GET", RedisArgument("\(prefix):a")),
            RedisCommand("LLEN", RedisArgument(list)),
        ])
        #expect(replies.count == 6)
        #expect(try replies[0].get() == .status("OK"))
        #expect(try replies[1].get() == .integer(1))
        guard case .failure(let wrongType) = replies[2] else {
            Issue.record("INCR on a list must fail, got \(replies[2])")
            return
        }
        #expect(wrongType.code == .server)
        #expect(wrongType.message.hasPrefix("WRONGTYPE"))
        guard case .failure(let unknown) = replies[3] else {
            Issue.record("an unknown command must fail, got \(replies[3])")
            return
        }
        #expect(unknown.code == .server)
        #expect(unknown.message.hasPrefix("ERR"))
        #expect(try replies[4].get() == .bulk(Array("1".utf8)))
        #expect(try replies[5].get() == .integer(1))
    }

    @Test func emptyPipeline() async throws {
        #expect(try await redis.pipeline([]).isEmpty)
    }

    @Test(arguments: TestWire.allCases)
    func concurrentPipelinesKeepTheirReplies(over wire: TestWire) async throws {
        let redis = try sharedConnection(over: wire)
        let prefix = self.prefix
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<20 {
                group.addTask {
                    let key = "\(prefix):p\(task)"
                    var commands = [RedisCommand("DEL", RedisArgument(key))]
                    for index in 0..<50 {
                        commands.append(RedisCommand("RPUSH", RedisArgument(key), RedisArgument(index)))
                    }
                    commands.append(RedisCommand("LRANGE", RedisArgument(key), 0, -1))
                    let replies = try await redis.pipeline(commands)
                    #expect(replies.count == 52)
                    #expect(try replies[50].get() == .integer(50))
                    let list = try replies[51].get().array?.compactMap(\.int)
                    #expect(list == (0..<50).map { Int64($0) })
                }
            }
            try await group.waitForAll()
        }
    }

    @Test(arguments: TestWire.allCases)
    func transactionInAPipeline(over wire: TestWire) async throws {
        let redis = try sharedConnection(over: wire)
        let key = "\(prefix):tx"
        let replies = try await redis.pipeline([
            RedisCommand("MULTI"),
            RedisCommand("INCR", RedisArgument(key)),
            RedisCommand("INCRBY", RedisArgument(key), 10),
            RedisCommand("EXEC"),
        ])
        #expect(try replies[0].get() == .status("OK"))
        #expect(try replies[1].get() == .status("QUEUED"))
        #expect(try replies[2].get() == .status("QUEUED"))
        #expect(try replies[3].get() == .array([.integer(1), .integer(11)]))
    }
}
