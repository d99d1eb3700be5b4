import Foundation
import RedisTestSupport
import Testing

@testable import RedisClient

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Sockets and transports")
struct TransportTests {
    /// A worker's connections must not leak into the processes it starts (a `redis-server` for the demo, say).
    @Test(arguments: TestWire.allCases)
    func socketsAreCloseOnExec(over wire: TestWire) async throws {
        try await withRedisServer(over: wire) { server in
            let redis = try RedisConnection(configuration: configuration(for: server))
            let info = try #require(try await redis.send("CLIENT", "INFO").string)
            // "addr=127.0.0.1:PORT": the client's side of the connection.
            let address = try #require(info.split(separator: " ").first { $0.hasPrefix("addr=") })
            let localPort = try #require(address.split(separator: ":").last.flatMap { Int($0) })
            let descriptor = try #require(Self.socketDescriptor(localPort: localPort))
            #expect(fcntl(descriptor, F_GETFD) & FD_CLOEXEC != 0)
            #expect(fcntl(descriptor, F_GETFL) & O_NONBLOCK != 0)
        }
    }

    @Test func unreachableAddressFailsWithinTheConnectTimeout() async throws {
        // TEST-NET-1 (RFC 5737): never routed, so the connect either fails at once or never completes.
        var configuration = try RedisConfiguration(url: "redis://192.0.2.1:6379")
        configuration.connectTimeout = .milliseconds(300)
        let redis = try RedisConnection(configuration: configuration)
        let error = try await withTimeout(.seconds(10), "the connect gives up") {
            await redisError { try await redis.send("PING") }
        }
        #expect(error?.code == .connectionFailed)
        #expect(error?.message.contains("192.0.2.1:6379") == true, "\(String(describing: error))")
    }

    @Test func outputBufferKeepsOrderAcrossPartialWrites() throws {
        var buffer = OutputBuffer()
        #expect(buffer.isEmpty)
        let first = Array("*1\r\n$4\r\nPING\r\n".utf8)
        let second = pseudoRandomBytes(count: 200_000)
        first.withUnsafeBytes { buffer.append($0) }
        second.withUnsafeBytes { buffer.append($0) }
        var written: [UInt8] = []
        // Writes of awkward sizes, as a socket under pressure would take them; appends in between.
        var step = 7
        while !buffer.isEmpty {
            let taken = try buffer.withUnsentBytes { bytes throws(RedisError) in
                let count = min(step, bytes.count)
                written.append(contentsOf: bytes.prefix(count))
                return count
            }
            buffer.consume(taken)
            step = step * 3 % 65_521 + 1
        }
        #expect(written == first + second)
        first.withUnsafeBytes { buffer.append($0) }
        #expect(try buffer.withUnsentBytes { bytes throws(RedisError) in Array(bytes) } == first)
    }

    /// The descriptor of this process's TCP socket bound to `localPort`.
    private static func socketDescriptor(localPort: Int) -> Int32? {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for entry in entries {
            guard let descriptor = Int32(entry) else { continue }
            var address = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let status = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
            }
            guard status == 0, address.ss_family == sa_family_t(AF_INET) else { continue }
            let port = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
            }
            if Int(port) == localPort { return descriptor }
        }
        return nil
    }
}
