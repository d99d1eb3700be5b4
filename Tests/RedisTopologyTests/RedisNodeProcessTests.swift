import RedisClient
import RedisTopology
import Testing

@Suite("One redis-server process", .timeLimit(.minutes(1)))
struct RedisNodeProcessTests {
    @Test func restartsOnTheSamePortAndPausesAndResumes() async throws {
        let node = try RedisNodeProcess(arguments: ["--maxmemory", "10mb"])
        try await node.start()
        let firstPID = try #require(node.pid)
        #expect(try await node.send("CONFIG", "GET", "maxmemory").array?.last?.string == "10485760")
        #expect(try await node.role() == .primary(replicas: []))

        node.pause()
        #expect(node.isPaused)
        // A paused node answers nothing: the command times out (the connection's 2 s command timeout).
        await #expect(throws: RedisError.self) { try await node.send("PING") }
        node.resume()
        #expect(try await node.send("PING") == .status("PONG"))

        try await node.kill()
        #expect(!node.isRunning)
        await #expect(throws: RedisError.self) { try await node.send("PING") }
        try await node.start()
        #expect(node.pid != firstPID)
        #expect(try await node.send("PING") == .status("PONG"))
        await node.shutdown()
        #expect(!node.isRunning)
    }

    @Test func aBadConfigurationFailsWithTheLogAndHidesThePassword() async throws {
        let node = try RedisNodeProcess(configuration: ["no-such-directive secret-value"], password: "secret-value")
        do {
            try await node.start()
            Issue.record("a node with a bad configuration started")
        } catch {
            let message = "\(error)"
            #expect(message.contains("exited"))
            #expect(message.contains("no-such-directive"))
            #expect(!message.contains("secret-value"))
        }
        #expect(!node.isRunning)
    }

    @Test func aSentinelRewritesItsConfigurationFile() async throws {
        let primary = try RedisNodeProcess()
        try await primary.start()
        let sentinel = try RedisNodeProcess(
            mode: .sentinel,
            configuration: ["sentinel monitor solo 127.0.0.1 \(primary.port) 1"]
        )
        try await sentinel.start()
        #expect(try await sentinel.role() == .sentinel(primaryNames: ["solo"]))
        let reply = try await sentinel.send("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "solo")
        #expect(reply.array?.compactMap(\.string) == ["127.0.0.1", String(primary.port)])
        // Sentinel mode needs a writable configuration file: it records its ID there.
        let text = try String(contentsOfFile: sentinel.configurationFile, encoding: .utf8)
        #expect(text.contains("sentinel myid"))
        await sentinel.shutdown()
        await primary.shutdown()
    }
}
