import Dispatch
import RedisClient
import RedisTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Concurrency", .sharedTLSServer)
struct ConcurrencyTests {
    @Test(arguments: TestWire.allCases)
    func thousandConcurrentCallersOnOneConnection(over wire: TestWire) async throws {
        let redis = try sharedConnection(over: wire)
        let prefix = TestRedis.uniquePrefix("conc")
        let counter = "\(prefix):counter"
        let mismatches = try await withTimeout(.seconds(30), "1,000 callers finish") {
            try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<1000 {
                    group.addTask {
                        var mismatches = 0
                        let incremented = try await redis.send("INCR", RedisArgument(counter))
                        if incremented.int == nil { mismatches += 1 }
                        let key = "\(prefix):own:\(index)"
                        let value = "value-\(index)-" + String(repeating: "x", count: index % 37)
                        if try await redis.send("SET", RedisArgument(key), RedisArgument(value)) != .status("OK") {
                            mismatches += 1
                        }
                        if try await redis.send("GET", RedisArgument(key)) != .bulk(Array(value.utf8)) {
                            mismatches += 1
                        }
                        return mismatches
                    }
                }
                return try await group.reduce(0, +)
            }
        }
        #expect(mismatches == 0)
        #expect(try await redis.send("GET", RedisArgument(counter)).int == 1000)
    }

    @Test(arguments: TestWire.allCases)
    func concurrentCallersGetTheirOwnRepliesAcrossReplyTypes(over wire: TestWire) async throws {
        let redis = try sharedConnection(over: wire)
        let prefix = TestRedis.uniquePrefix("mix")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<200 {
                group.addTask {
                    switch index % 4 {
                    case 0:
                        #expect(
                            try await redis.send("ECHO", RedisArgument("e\(index)")) == .bulk(Array("e\(index)".utf8))
                        )
                    case 1:
                        let error = await redisError { try await redis.send(RedisArgument("NOSUCHCOMMAND\(index)")) }
                        #expect(error?.code == .server)
                        #expect(error?.message.lowercased().contains("'nosuchcommand\(index)'") == true)
                    case 2:
                        let replies = try await redis.pipeline([
                            RedisCommand("SET", RedisArgument("\(prefix):\(index)"), RedisArgument(index)),
                            RedisCommand("GET", RedisArgument("\(prefix):\(index)")),
                        ])
                        #expect(try replies[1].get().int == Int64(index))
                    default:
                        #expect(try await redis.send("GET", RedisArgument("\(prefix):missing:\(index)")) == .null)
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// 64 connections' I/O threads stay blocked on a stopped server while other async work still runs: no
    /// cooperative-pool thread is parked in hiredis or poll.
    @Test func cooperativePoolStaysFree() async throws {
        try await withRedisServer { server in
            let configuration = try configuration(for: server, commandTimeout: .seconds(120))
            let connections = try (0..<64).map { index in
                try RedisConnection(configuration: configuration, name: "redis-pool-\(index)")
            }
            // Connect them all first.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, connection) in connections.enumerated() {
                    group.addTask {
                        let reply = try await connection.send("SET", RedisArgument("k\(index)"), RedisArgument(index))
                        #expect(reply == .status("OK"))
                    }
                }
                try await group.waitForAll()
            }

            server.signal(SIGSTOP)
            // A watchdog on a plain thread: if the pool were starved the test could not resume the server itself,
            // so the GETs would never return; this turns a hang into a failed expectation below.
            let watchdog = DispatchWorkItem { server.signal(SIGCONT) }
            DispatchQueue.global().asyncAfter(deadline: .now() + 30, execute: watchdog)
            defer { watchdog.cancel() }

            let started = Locked(0)
            let finished = Locked(0)
            let results = Locked<[Int: RedisValue]>([:])
            let gets = Task {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (index, connection) in connections.enumerated() {
                        group.addTask {
                            started.withLock { $0 += 1 }
                            let value = try await connection.send("GET", RedisArgument("k\(index)"))
                            results.withLock { $0[index] = value }
                            finished.withLock { $0 += 1 }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            try await waitUntil(timeout: .seconds(10), "all 64 GETs are awaiting") { started.value == 64 }

            // Other work on the cooperative pool: 1,000 child tasks computing and yielding.
            let checksum = await withTaskGroup(of: UInt64.self) { group in
                for task in 0..<1000 {
                    group.addTask {
                        var value = UInt64(task)
                        for round in 0..<200 {
                            value = value &* 6_364_136_223_846_793_005 &+ UInt64(round)
                            if round % 50 == 0 { await Task.yield() }
                        }
                        return value
                    }
                }
                return await group.reduce(0, &+)
            }
            let finishedWhileComputing = finished.value
            #expect(checksum != 0)
            #expect(finishedWhileComputing == 0, "the pool work only finished after the server was resumed")

            server.signal(SIGCONT)
            try await waitUntil(timeout: .seconds(20), "all GETs complete") { finished.value == 64 }
            try await gets.value
            let values = results.value
            #expect(values.count == 64)
            for index in 0..<64 { #expect(values[index] == .bulk(Array(String(index).utf8))) }
        }
    }

    @Test func manyConnectionsInParallel() async throws {
        let prefix = TestRedis.uniquePrefix("many")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<32 {
                group.addTask {
                    let redis = try sharedConnection(name: "redis-many-\(index)")
                    defer { redis.close() }
                    let key = "\(prefix):\(index)"
                    for round in 0..<20 {
                        try await redis.send("SET", RedisArgument(key), RedisArgument(round))
                        #expect(try await redis.send("GET", RedisArgument(key)).int == Int64(round))
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}
