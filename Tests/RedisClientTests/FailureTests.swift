import Foundation
import RedisClient
import RedisTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Connection failures, timeouts, cancellation")
struct FailureTests {
    @Test func unknownHost() async throws {
        let redis = try RedisConnection(url: "redis://no-such-host.invalid:6379")
        let error = await redisError { try await redis.send("PING") }
        #expect(error?.code == .connectionFailed)
        #expect(error?.isConnectionError == true)
        #expect(error?.message.contains("no-such-host.invalid") == true)
        // Another attempt fails the same way (no stuck state).
        #expect(await redisError { try await redis.send("PING") }?.code == .connectionFailed)
    }

    @Test func closedPort() async throws {
        // Nothing listens there (see RefusingPort: a bare freeLoopbackPort() could be taken by a parallel test's
        // server).
        let closed = try RefusingPort()
        let redis = try RedisConnection(url: "redis://127.0.0.1:\(closed.port)")
        let error = await redisError { try await redis.send("PING") }
        #expect(error?.code == .connectionFailed)
        #expect(error?.isConnectionError == true)
        // All commands queued together fail, none hangs.
        let results = await withTaskGroup(of: RedisError?.self) { group in
            for _ in 0..<10 { group.addTask { await redisError { try await redis.send("PING") } } }
            return await group.reduce(into: [RedisError?]()) { $0.append($1) }
        }
        #expect(results.count == 10)
        #expect(results.allSatisfy { $0?.code == .connectionFailed })
        withExtendedLifetime(closed) {}
    }

    @Test func unixSocketThatDoesNotExist() async throws {
        let redis = try RedisConnection(url: "unix:///tmp/no-such-dir-\(UUID().uuidString)/redis.sock")
        #expect(await redisError { try await redis.send("PING") }?.code == .connectionFailed)
    }

    @Test func unixSocket() async throws {
        let path = "/tmp/redis-test-\(UUID().uuidString.prefix(8)).sock"
        try await withRedisServer(["--unixsocket", path, "--unixsocketperm", "700"]) { _ in
            let redis = try RedisConnection(url: "unix://\(path)?db=1")
            #expect(try await redis.send("SET", "k", "v") == .status("OK"))
            #expect(try await redis.send("CLIENT", "INFO").string?.contains(" db=1 ") == true)
        }
        try? FileManager.default.removeItem(atPath: path)
    }

    @Test(arguments: TestWire.allCases)
    func serverKilledAndRestartedMidUse(over wire: TestWire) async throws {
        try await withRedisServer(over: wire) { server in
            let redis = try RedisConnection(configuration: configuration(for: server))
            #expect(try await redis.send("SET", "k", "v") == .status("OK"))

            try await server.stop()
            let error = await redisError { try await redis.send("GET", "k") }
            #expect(error?.isConnectionError == true, "got \(String(describing: error))")

            try await server.start()
            // The client reconnects on its own: the next command succeeds (the data is gone: no persistence).
            #expect(try await redis.send("GET", "k") == .null)
            #expect(try await redis.send("SET", "k", "again") == .status("OK"))
        }
    }

    @Test(arguments: TestWire.allCases)
    func serverKilledWhileIdle(over wire: TestWire) async throws {
        try await withRedisServer(over: wire) { server in
            let redis = try RedisConnection(configuration: configuration(for: server))
            #expect(try await redis.send("PING") == .status("PONG"))
            try await server.stop()
            try await server.start()
            // The loop saw the socket close while idle, so the very next command uses a fresh connection.
            #expect(try await redis.send("PING") == .status("PONG"))
            #expect(try await redis.send("DBSIZE") == .integer(0))
        }
    }

    @Test func connectionKilledByServerWhileIdle() async throws {
        try await withRedisServer { server in
            let redis = try RedisConnection(configuration: configuration(for: server))
            let id = try #require(try await redis.send("CLIENT", "ID").int)
            let admin = try RedisConnection(configuration: configuration(for: server))
            #expect(try await admin.send("CLIENT", "KILL", "ID", RedisArgument(id)) == .integer(1))
            // Wait until the server no longer lists the killed client: it has closed the socket.
            try await waitUntil(timeout: .seconds(5), "the killed client is gone") {
                try await admin.send("CLIENT", "LIST", "ID", RedisArgument(id)) == .bulk([])
            }
            // Killed while idle: noticed by polling, the very next command runs on a new connection.
            let newID = try #require(try await redis.send("CLIENT", "ID").int)
            #expect(newID != id)
        }
    }

    /// The command right after a server-side close must not be written to the dead socket, even when the close
    /// and the command reach the connection's thread in the same turn of its loop.
    @Test(arguments: TestWire.allCases)
    func commandRightAfterServerSideCloseSucceeds(over wire: TestWire) async throws {
        try await withRedisServer(over: wire) { server in
            let redis = try RedisConnection(configuration: configuration(for: server))
            let admin = try RedisConnection(configuration: configuration(for: server))
            for round in 0..<50 {
                let id = try #require(try await redis.send("CLIENT", "ID").int)
                // When CLIENT KILL has answered, the server has closed the socket.
                #expect(try await admin.send("CLIENT", "KILL", "ID", RedisArgument(id)) == .integer(1))
                do {
                    #expect(try await redis.send("PING") == .status("PONG"))
                } catch {
                    Issue.record("round \(round): the command after the close failed: \(error)")
                }
            }
        }
    }

    /// A read that takes whole buffers of replies and then meets the close must hand over those replies first:
    /// the value fills the wire's 16 KiB reads exactly, QUIT's `+OK` ends them, then the server closes.
    @Test(arguments: TestWire.allCases)
    func repliesThatArriveWithTheCloseAreDelivered(over wire: TestWire) async throws {
        try await withRedisServer(over: wire) { server in
            let redis = try RedisConnection(configuration: configuration(for: server))
            let total = 2 * 16 * 1024
            // GET's reply is `$<n>\r\n<n bytes>\r\n`, QUIT's `+OK\r\n`.
            var length = total - 5 - 4
            while "$\(length)\r\n".utf8.count + length + 2 + 5 != total { length -= 1 }
            let value = [UInt8](repeating: UInt8(ascii: "v"), count: length)
            #expect(try await redis.send("SET", "big", RedisArgument(value)) == .status("OK"))
            for round in 0..<30 {
                // A connection of its own each round: a command sent right after QUIT's reply races the close.
                let quitting = try RedisConnection(configuration: configuration(for: server))
                defer { quitting.close() }
                let replies = try await quitting.pipeline([RedisCommand("GET", "big"), RedisCommand("QUIT")])
                #expect(try replies[0].get() == .bulk(value), "round \(round)")
                #expect(try replies[1].get() == .status("OK"), "round \(round)")
            }
        }
    }

    @Test(arguments: TestWire.allCases)
    func commandTimeout(over wire: TestWire) async throws {
        try await withRedisServer(over: wire) { server in
            let redis = try RedisConnection(
                configuration: configuration(for: server, commandTimeout: .milliseconds(300))
            )
            #expect(try await redis.send("SET", "k", "v") == .status("OK"))

            server.signal(SIGSTOP)
            // Both the command and one queued behind it fail: the connection is declared hung and closed.
            async let first = redisError { try await redis.send("GET", "k") }
            async let second = redisError { try await redis.send("PING") }
            let (firstError, secondError) = await (first, second)
            #expect(firstError?.code == .timeout)
            #expect(firstError?.isConnectionError == true)
            #expect(secondError?.code == .timeout)
            server.signal(SIGCONT)

            // Once the server answers again (checked on another connection), the same connection works again.
            let probe = try RedisConnection(configuration: configuration(for: server))
            try await waitUntil(timeout: .seconds(10), "the server answers again") {
                (try? await probe.send("PING")) == .status("PONG")
            }
            #expect(try await redis.send("PING") == .status("PONG"))
            #expect(try await redis.send("GET", "k") == .bulk(Array("v".utf8)))
        }
    }

    @Test func commandTimeoutWithDebugSleep() async throws {
        try await withRedisServer(["--enable-debug-command", "yes"]) { server in
            let redis = try RedisConnection(
                configuration: configuration(for: server, commandTimeout: .milliseconds(300))
            )
            let error = await redisError { try await redis.send("DEBUG", "SLEEP", "2") }
            #expect(error?.code == .timeout)
            let probe = try RedisConnection(configuration: configuration(for: server))
            try await waitUntil(timeout: .seconds(10), "the server answers again") {
                (try? await probe.send("PING")) == .status("PONG")
            }
            #expect(try await redis.send("PING") == .status("PONG"))
        }
    }

    @Test func handshakeBoundedByConnectTimeout() async throws {
        try await withRedisServer(["--requirepass", "secret"]) { server in
            var quick = try configuration(for: server, userInfo: ":secret@")
            quick.connectTimeout = .milliseconds(300)
            let redis = try RedisConnection(configuration: quick)
            server.signal(SIGSTOP)
            // The kernel accepts the TCP connection, but AUTH gets no answer: the handshake times out.
            let outcome = Locked<RedisError??>(nil)
            Task {
                let error = await redisError { try await redis.send("PING") }
                outcome.withLock { $0 = .some(error) }
            }
            try await waitUntil(timeout: .seconds(10), "the handshake gives up") { outcome.value != nil }
            #expect(outcome.value??.code == .timeout)
            #expect(outcome.value??.isConnectionError == true)
            server.signal(SIGCONT)
            let probe = try RedisConnection(configuration: configuration(for: server, userInfo: ":secret@"))
            try await waitUntil(timeout: .seconds(10), "the server answers again") {
                (try? await probe.send("PING")) == .status("PONG")
            }
            #expect(try await redis.send("PING") == .status("PONG"))
        }
    }

    @Test func cancellationWhileAwaitingAReply() async throws {
        try await withRedisServer { server in
            // A command timeout far beyond the test's bounds: only cancellation can end the wait.
            let redis = try RedisConnection(configuration: configuration(for: server, commandTimeout: .seconds(120)))
            #expect(try await redis.send("SET", "k", "v") == .status("OK"))
            server.signal(SIGSTOP)

            let started = Locked(0)
            let outcomes = Locked<[RedisError?]>([])
            var tasks: [Task<Void, Never>] = []
            for index in 0..<5 {
                tasks.append(
                    Task {
                        started.withLock { $0 += 1 }
                        let error = await redisError { try await redis.send("INCR", RedisArgument("n\(index)")) }
                        outcomes.withLock { $0.append(error) }
                    }
                )
            }
            try await waitUntil(timeout: .seconds(5), "the tasks are awaiting their replies") {
                started.value == 5
            }
            for task in tasks { task.cancel() }
            // Promptly: well inside the command timeout, while the server is still stopped.
            try await waitUntil(timeout: .seconds(5), "the cancelled tasks finish") { outcomes.value.count == 5 }
            #expect(outcomes.value.allSatisfy { $0?.code == .cancelled })
            server.signal(SIGCONT)

            // The replies of the cancelled commands (they were sent) are dropped in order: the next caller gets its
            // own reply, not one of theirs.
            #expect(try await redis.send("GET", "k") == .bulk(Array("v".utf8)))
            #expect(try await redis.send("ECHO", "mine") == .bulk(Array("mine".utf8)))
        }
    }

    @Test func alreadyCancelledTaskDoesNotSend() async throws {
        let redis = try sharedConnection()
        let key = "\(TestRedis.uniquePrefix("cancel")):n"
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await redisError { try await redis.send("INCR", RedisArgument(key)) }
        }
        let error = await task.value
        #expect(error?.code == .cancelled)
        #expect(try await redis.send("GET", RedisArgument(key)) == .null)
    }

    @Test func closeFailsCommandsInFlight() async throws {
        try await withRedisServer { server in
            let redis = try RedisConnection(configuration: configuration(for: server, commandTimeout: .seconds(120)))
            #expect(try await redis.send("PING") == .status("PONG"))
            server.signal(SIGSTOP)
            let started = Locked(false)
            let outcome = Locked<RedisError??>(nil)
            Task {
                started.withLock { $0 = true }
                let error = await redisError { try await redis.send("GET", "k") }
                outcome.withLock { $0 = .some(error) }
            }
            try await waitUntil(timeout: .seconds(5), "the command is sent") { started.value }
            redis.close()
            try await waitUntil(timeout: .seconds(5), "the command in flight fails") { outcome.value != nil }
            #expect(outcome.value??.code == .clientClosed)
            #expect(await redisError { try await redis.send("PING") }?.code == .clientClosed)
        }
    }
}
