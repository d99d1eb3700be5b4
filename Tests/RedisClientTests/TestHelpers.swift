import Foundation
import RedisClient
import RedisTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A connection to the shared test server (`REDIS_URL`).
func sharedConnection(database: Int? = nil, name: String = "redis-test") throws -> RedisConnection {
    var configuration = try RedisConfiguration(url: TestRedis.url)
    if let database { configuration.database = database }
    return try RedisConnection(configuration: configuration, name: name)
}

/// A configuration for a server of our own, with optional changes: over TLS (trusting the test CA) when the server
/// has a TLS port.
func configuration(
    for server: RedisServerProcess,
    userInfo: String = "",
    database: Int = 0,
    commandTimeout: Duration = .seconds(5)
) throws -> RedisConfiguration {
    let url =
        if let tlsPort = server.tlsPort, let caFile = server.tlsCAFile {
            "rediss://\(userInfo)127.0.0.1:\(tlsPort)/\(database)?ca_file=\(caFile)"
        } else {
            "redis://\(userInfo)127.0.0.1:\(server.port)/\(database)"
        }
    var configuration = try RedisConfiguration(url: url)
    configuration.commandTimeout = commandTimeout
    return configuration
}

/// Runs `body`, failing with a ``TestSupportError`` when it has not finished after `timeout` (the body is
/// cancelled then, and must honour cancellation).
func withTimeout<T: Sendable>(
    _ timeout: Duration,
    _ what: String,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw TestSupportError("timed out after \(timeout): \(what)")
        }
        return value
    }
}

/// Runs `body` and returns the ``RedisError`` it throws; records an issue (and returns nil) when it throws nothing
/// or another error.
func redisError<T>(
    isolation: isolated (any Actor)? = #isolation,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> T
) async -> RedisError? {
    do {
        let value = try await body()
        Issue.record("expected a RedisError, got a value: \(value)", sourceLocation: sourceLocation)
        return nil
    } catch let error as RedisError {
        return error
    } catch {
        Issue.record("expected a RedisError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// A thread-safe box for test bookkeeping.
final class Locked<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>
    init(_ value: Value) { storage = Mutex(value) }
    var value: Value { storage.withLock { $0 } }
    @discardableResult
    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { storage.withLock { body(&$0) } }
}

/// The events one subscription delivered so far, collected by a child task.
final class EventLog: Sendable {
    private let storage = Mutex<[RedisSubscriptionEvent]>([])
    private let ended = Atomic<Bool>(false)

    var events: [RedisSubscriptionEvent] { storage.withLock { $0 } }
    /// Whether the subscription's sequence ended on its own.
    var hasEnded: Bool { ended.load(ordering: .acquiring) }

    var messages: [(channel: String, payload: [UInt8])] {
        events.compactMap { event in
            if case .message(let channel, let payload) = event { return (channel, payload) }
            return nil
        }
    }

    func contains(channel: String, payload: [UInt8]) -> Bool {
        events.contains(.message(channel: channel, payload: payload))
    }

    /// Whether a `.gap` was delivered and, after it, a message on `channel`.
    func hasMessageAfterGap(channel: String) -> Bool {
        let events = self.events
        guard let gap = events.firstIndex(of: .gap) else { return false }
        return events[(gap + 1)...].contains { event in
            if case .message(channel, _) = event { return true }
            return false
        }
    }

    func append(_ event: RedisSubscriptionEvent) { storage.withLock { $0.append(event) } }
    func markEnded() { ended.store(true, ordering: .releasing) }
}

/// Collects `subscription`'s events into an ``EventLog`` while `body` runs; stops collecting when `body` returns.
func collecting<T>(
    _ subscription: RedisSubscription,
    isolation: isolated (any Actor)? = #isolation,
    _ body: (EventLog) async throws -> T
) async throws -> T {
    let log = EventLog()
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
            for await event in subscription { log.append(event) }
            log.markEnded()
        }
        defer { group.cancelAll() }
        return try await body(log)
    }
}

/// `count` bytes of every value 0...255 in turn, including NUL, CR and LF.
func allByteValues(repeating times: Int = 1) -> [UInt8] {
    var bytes: [UInt8] = []
    for _ in 0..<times { bytes.append(contentsOf: (0...255).map { UInt8($0) }) }
    return bytes
}

/// Pseudo-random bytes from a fixed seed, so a large value is not trivially compressible or periodic.
func pseudoRandomBytes(count: Int, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) -> [UInt8] {
    var state = seed
    var bytes = [UInt8](repeating: 0, count: count)
    for index in 0..<count {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        bytes[index] = UInt8(truncatingIfNeeded: state >> 56)
    }
    return bytes
}

/// A loopback port that refuses connections for as long as this value lives: bound (without SO_REUSEADDR) but not
/// listening, so no server started meanwhile by a parallel test (which also picks free ports) can take it.
final class RefusingPort: Sendable {
    let port: Int
    private let fd: Int32

    init() throws {
        (fd, port) = try bindLoopbackSocket()
    }

    deinit { close(fd) }
}
