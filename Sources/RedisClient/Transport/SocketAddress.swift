#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One resolved address to connect to (a copy of a `sockaddr`, so it outlives `freeaddrinfo`).
struct SocketAddress: Sendable {
    let family: Int32
    let socketType: Int32
    let protocolNumber: Int32
    private let storage: sockaddr_storage
    private let length: socklen_t

    /// Copies the address of one `addrinfo` entry.
    init?(_ info: addrinfo) {
        guard let address = info.ai_addr, Int(info.ai_addrlen) <= MemoryLayout<sockaddr_storage>.size else {
            return nil
        }
        var storage = sockaddr_storage()
        withUnsafeMutableBytes(of: &storage) { target in
            target.copyMemory(from: UnsafeRawBufferPointer(start: address, count: Int(info.ai_addrlen)))
        }
        self.family = info.ai_family
        self.socketType = info.ai_socktype
        self.protocolNumber = info.ai_protocol
        self.storage = storage
        self.length = info.ai_addrlen
    }

    /// Calls `body` with the address as a `sockaddr` pointer and its length.
    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        withUnsafeBytes(of: storage) { bytes in
            body(bytes.baseAddress!.assumingMemoryBound(to: sockaddr.self), length)
        }
    }

    /// The numeric address, e.g. `127.0.0.1` or `::1`, for error messages.
    var numericHost: String {
        var host = [CChar](repeating: 0, count: 1025)  // NI_MAXHOST
        let status = withSockaddr { address, length in
            getnameinfo(address, length, &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST)
        }
        guard status == 0 else { return "?" }
        return String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
