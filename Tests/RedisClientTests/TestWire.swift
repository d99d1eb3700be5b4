import RedisClient
import RedisTestSupport
import Testing

/// The transports a client test runs over: one test body, run once in plaintext and once over TLS
/// (`@Test(arguments: TestWire.allCases)`).
enum TestWire: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case plain
    case tls

    var testDescription: String { rawValue }

    /// The `redis-server` arguments that serve this wire: for TLS, a TLS port beside the plaintext one.
    func serverArguments() async throws -> [String] {
        switch self {
        case .plain: []
        case .tls: try await RedisServerProcess.tlsArguments()
        }
    }
}

/// Starts a `redis-server` of our own that serves `wire`; ``configuration(for:userInfo:database:commandTimeout:)``
/// connects over that wire.
func withRedisServer<T>(
    over wire: TestWire,
    _ arguments: [String] = [],
    isolation: isolated (any Actor)? = #isolation,
    _ body: (RedisServerProcess) async throws -> T
) async throws -> T {
    try await withRedisServer(try await wire.serverArguments() + arguments, body)
}

/// A connection over `wire` to the shared test server: `REDIS_URL` for plaintext, the suite's TLS server (see
/// ``SharedTLSServer``) for TLS.
func sharedConnection(
    over wire: TestWire,
    database: Int? = nil,
    name: String = "redis-test"
) throws
    -> RedisConnection
{
    guard wire == .tls else { return try sharedConnection(database: database, name: name) }
    guard var configuration = SharedTLSServer.configuration else {
        throw TestSupportError("a suite with TLS tests needs the .sharedTLSServer trait")
    }
    if let database { configuration.database = database }
    return try RedisConnection(configuration: configuration, name: name)
}

/// A suite trait that runs a TLS `redis-server` for the suite's tests, the TLS twin of the `REDIS_URL` server.
struct SharedTLSServer: SuiteTrait, TestScoping {
    /// The configuration of the running suite's TLS server.
    @TaskLocal static var configuration: RedisConfiguration?

    func provideScope(
        for test: Test,
        testCase: Test.Case?,
        performing function: @Sendable () async throws -> Void
    ) async throws {
        try await withRedisServer(over: .tls) { server in
            try await Self.$configuration.withValue(try RedisClientTests.configuration(for: server)) {
                try await function()
            }
        }
    }
}

extension Trait where Self == SharedTLSServer {
    /// Runs a TLS `redis-server` for the suite (see ``SharedTLSServer``).
    static var sharedTLSServer: Self { Self() }
}
