import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Ports on 127.0.0.1 for servers started by this process.
public enum LoopbackPort {
    /// A port on 127.0.0.1 that was free a moment ago, never handed out before in this process.
    ///
    /// Chosen below the kernel's ephemeral range (`ip_local_port_range`): a port the kernel picks for `bind` to port 0
    /// is also where the local ends of outgoing connections come from, and tests open thousands of those, so such a
    /// port is often taken again before the server binds it.
    public static func free() throws(TopologyError) -> Int {
        let range = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8))?
            .split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        let ephemeralStart = range?.first ?? 32768
        let candidates = ephemeralStart > 12000 ? 10000..<ephemeralStart : 61000..<65536
        for _ in 0..<1000 {
            let port = Int.random(in: candidates)
            guard handedOut.withLock({ $0.insert(port).inserted }) else { continue }
            if canBind(port) { return port }
        }
        throw TopologyError("no free loopback port in \(candidates)")
    }

    private static let handedOut = Mutex<Set<Int>>([])

    /// Whether a TCP socket can be bound to `port` on 127.0.0.1 right now.
    private static func canBind(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}
