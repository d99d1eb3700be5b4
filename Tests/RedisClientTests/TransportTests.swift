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
            let descriptor = try #require(Self.socketDescriptors { local, _ in local == localPort }.first)
            #expect(fcntl(descriptor, F_GETFD) & FD_CLOEXEC != 0)
            #expect(fcntl(descriptor, F_GETFL) & O_NONBLOCK != 0)
        }
    }

    /// Every failed connection closes its socket: TLS verification failures, a plaintext client thrown out by a
    /// TLS port, a handshake that times out.
    @Test func failedConnectionsCloseTheirSockets() async throws {
        let certificates = try await TestCertificates.shared()
        let tlsPort = try freeLoopbackPort()
        let arguments = RedisServerProcess.tlsArguments(
            port: tlsPort,
            certificates: certificates,
            certificate: certificates.untrustedCertificate,
            key: certificates.untrustedKey
        )
        try await withRedisServer(arguments) { server in
            var untrusted = try RedisConfiguration(url: "rediss://127.0.0.1:\(tlsPort)?ca_file=\(certificates.caFile)")
            untrusted.connectTimeout = .seconds(10)
            let plaintext = try RedisConfiguration(url: "redis://127.0.0.1:\(tlsPort)")
            var silent = try RedisConfiguration(url: "rediss://127.0.0.1:\(server.port)?insecure_skip_verify=true")
            silent.connectTimeout = .milliseconds(100)
            for configuration in [untrusted, plaintext, silent] {
                let redis = try RedisConnection(configuration: configuration)
                for _ in 0..<5 {
                    let error = await redisError { try await redis.send("PING") }
                    #expect(error?.isConnectionError == true)
                }
                redis.close()
            }
            let peers = [tlsPort, server.port]
            #expect(Self.socketDescriptors { _, peer in peers.contains(peer) }.isEmpty)
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

    /// This process's IPv4 TCP sockets whose local and peer ports (0 when unconnected) satisfy `matches`.
    private static func socketDescriptors(_ matches: (_ local: Int, _ peer: Int) -> Bool) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return entries.compactMap { entry in
            guard let descriptor = Int32(entry), let local = port(of: descriptor, getsockname) else { return nil }
            return matches(local, port(of: descriptor, getpeername) ?? 0) ? descriptor : nil
        }
    }

    /// The IPv4 port `lookUp` (`getsockname` or `getpeername`) reports for `descriptor`.
    private static func port(
        of descriptor: Int32,
        _ lookUp: (Int32, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32
    ) -> Int? {
        var address = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let status = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { lookUp(descriptor, $0, &length) }
        }
        guard status == 0, address.ss_family == sa_family_t(AF_INET) else { return nil }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
        }
    }
}
