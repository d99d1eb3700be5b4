import CHiredis
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Name resolution bounded by a deadline.
///
/// `getaddrinfo` blocks for as long as the resolver likes (a dead DNS server costs seconds per try), so a host name
/// is resolved on a helper thread while the connection's I/O thread waits on an eventfd with the remaining time.
/// When the deadline passes first, the helper is abandoned: it finishes on its own and drops its result. Numeric
/// addresses are parsed at once, without a thread.
enum AddressResolver {
    /// The addresses of `host` for a TCP connection to `port`, in the resolver's preferred order.
    static func resolve(
        host: String,
        port: Int,
        until deadline: ContinuousClock.Instant
    ) throws(ResolutionError) -> [SocketAddress] {
        if case .success(let addresses) = lookUp(host: host, port: port, flags: AI_NUMERICHOST) { return addresses }
        let lookup = try Lookup()
        let started = Thread.detach(name: "redis-resolve") {
            lookup.finish(lookUp(host: host, port: port, flags: AI_ADDRCONFIG))
        }
        guard started else { throw ResolutionError("cannot start a resolver thread") }
        return try lookup.wait(until: deadline)
    }

    /// Why a name could not be resolved.
    struct ResolutionError: Error {
        let message: String
        init(_ message: String) { self.message = message }
    }

    /// One `getaddrinfo` call (blocking).
    private static func lookUp(host: String, port: Int, flags: Int32) -> Result<[SocketAddress], ResolutionError> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = flags | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0 else {
            let reason = status == EAI_SYSTEM ? Socket.errorText(errno) : String(cString: gai_strerror(status))
            return .failure(ResolutionError(reason))
        }
        defer { freeaddrinfo(list) }
        var addresses: [SocketAddress] = []
        var entry = list
        while let current = entry {
            if let address = SocketAddress(current.pointee) { addresses.append(address) }
            entry = current.pointee.ai_next
        }
        guard !addresses.isEmpty else { return .failure(ResolutionError("no address")) }
        return .success(addresses)
    }

    /// The meeting point of the resolver thread and the waiting I/O thread; the last one to let go closes the
    /// eventfd.
    private final class Lookup: Sendable {
        private let result = Mutex<Result<[SocketAddress], ResolutionError>?>(nil)
        private let eventFD: Int32

        init() throws(ResolutionError) {
            eventFD = chiredis_eventfd()
            guard eventFD >= 0 else { throw ResolutionError("cannot create an eventfd (errno \(errno))") }
        }

        deinit { close(eventFD) }

        func finish(_ outcome: Result<[SocketAddress], ResolutionError>) {
            result.withLock { $0 = outcome }
            eventfd_write(eventFD, 1)
        }

        func wait(until deadline: ContinuousClock.Instant) throws(ResolutionError) -> [SocketAddress] {
            do {
                _ = try Socket.wait(eventFD, for: Int16(POLLIN), until: deadline)
            } catch {
                throw ResolutionError(error.message)
            }
            switch result.withLock({ $0 }) {
            case .success(let addresses): return addresses
            case .failure(let error): throw error
            case nil: throw ResolutionError("name resolution timed out")
            }
        }
    }
}
