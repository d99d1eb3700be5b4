import CHiredis

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Small socket helpers shared by the connector and the transports.
enum Socket {
    /// Waits until `fd` is ready for `events` or `deadline` passes; returns whether it is ready (readiness includes
    /// errors and hang-ups, which the next operation reports).
    static func wait(_ fd: Int32, for events: Int16, until deadline: ContinuousClock.Instant) throws(RedisError) -> Bool
    {
        var socket = pollfd(fd: fd, events: events, revents: 0)
        while true {
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else { return false }
            let ready = poll(&socket, 1, Int32(clamping: remaining.milliseconds))
            if ready > 0 { return true }
            if ready < 0 && errno != EINTR { throw ioError(errno) }
        }
    }

    /// The text of an `errno` value.
    static func errorText(_ code: Int32) -> String {
        String(cString: strerror(code))
    }

    /// An I/O failure on an established connection.
    static func ioError(_ code: Int32) -> RedisError {
        RedisError(.io, "I/O error: \(errorText(code))")
    }
}
