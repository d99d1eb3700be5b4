import CHiredis

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Opens non-blocking, close-on-exec sockets with one deadline for name resolution and every connect attempt.
enum SocketConnector {
    /// Connects to `endpoint`, trying each resolved address in turn (IPv4 first, as hiredis does) until one answers
    /// or `deadline` passes; returns the connected socket (the caller owns it). Each address gets an equal share of
    /// the time left, so an address whose packets are silently dropped cannot use up the whole connect timeout.
    static func connect(
        to endpoint: RedisConfiguration.Endpoint,
        keepAlive: Bool,
        until deadline: ContinuousClock.Instant
    ) throws(RedisError) -> Int32 {
        switch endpoint {
        case .tcp(let host, let port):
            let target = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            let addresses: [SocketAddress]
            do {
                let resolved = try AddressResolver.resolve(host: host, port: port, until: deadline)
                addresses = resolved.filter { $0.family == AF_INET } + resolved.filter { $0.family != AF_INET }
            } catch {
                throw RedisError(.connectionFailed, "cannot connect to \(target): \(error.message)")
            }
            var failures: [String] = []
            for (index, address) in addresses.enumerated() {
                let left = ContinuousClock.now.duration(to: deadline)
                let share = ContinuousClock.now.advanced(by: left / (addresses.count - index))
                switch attempt(address, until: share) {
                case .success(let fd):
                    // Best effort: a socket without them still works.
                    _ = chiredis_set_nodelay(fd)
                    if keepAlive { _ = chiredis_enable_keepalive(fd) }
                    return fd
                case .failure(let reason):
                    failures.append(addresses.count > 1 ? "\(address.numericHost): \(reason.reason)" : reason.reason)
                }
                if ContinuousClock.now >= deadline { break }
            }
            throw RedisError(.connectionFailed, "cannot connect to \(target): \(failures.joined(separator: "; "))")
        case .unix(let path):
            switch connectUnix(path, until: deadline) {
            case .success(let fd): return fd
            case .failure(let failure):
                throw RedisError(.connectionFailed, "cannot connect to \(path): \(failure.reason)")
            }
        case .sentinel:
            // Sentinel discovery connects to the addresses the sentinels name, never to this case.
            throw RedisError(.invalidConfiguration, "a Sentinel setup has no single address to connect to")
        case .cluster:
            // The cluster client connects to each node by its address, never to this case.
            throw RedisError(.invalidConfiguration, "a cluster has no single address to connect to")
        }
    }

    private struct Failure: Error {
        let reason: String
        init(_ reason: String) { self.reason = reason }
    }

    private static func attempt(
        _ address: SocketAddress,
        until deadline: ContinuousClock.Instant
    ) -> Result<
        Int32, Failure
    > {
        let fd = socket(address.family, address.socketType | Int32(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failure(Failure(Socket.errorText(errno))) }
        let status = address.withSockaddr { pointer, length in Glibc.connect(fd, pointer, length) }
        return finish(fd, status: status, until: deadline)
    }

    private static func connectUnix(_ path: String, until deadline: ContinuousClock.Instant) -> Result<Int32, Failure> {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            return .failure(Failure("the socket path is too long"))
        }
        withUnsafeMutableBytes(of: &address.sun_path) { target in
            target.copyBytes(from: bytes)
            target[bytes.count] = 0
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failure(Failure(Socket.errorText(errno))) }
        let status = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return finish(fd, status: status, until: deadline)
    }

    /// Waits for a non-blocking connect that returned `status`; closes the socket on failure.
    private static func finish(
        _ fd: Int32,
        status: Int32,
        until deadline: ContinuousClock.Instant
    ) -> Result<
        Int32, Failure
    > {
        if status == 0 { return .success(fd) }
        // EINTR leaves the connect running, like EINPROGRESS.
        guard errno == EINPROGRESS || errno == EINTR else {
            let reason = Socket.errorText(errno)
            close(fd)
            return .failure(Failure(reason))
        }
        let ready: Bool
        do {
            ready = try Socket.wait(fd, for: Int16(POLLOUT), until: deadline)
        } catch {
            close(fd)
            return .failure(Failure(error.message))
        }
        guard ready else {
            close(fd)
            return .failure(Failure("connect timed out"))
        }
        let error = chiredis_socket_error(fd)
        guard error == 0 else {
            close(fd)
            return .failure(Failure(Socket.errorText(error)))
        }
        return .success(fd)
    }
}
