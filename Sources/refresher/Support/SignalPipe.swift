import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Signals delivered as values of an `AsyncStream`, with no window in which one is lost.
///
/// A dispatch signal source registers asynchronously and needs the signal ignored until then, so a signal that
/// arrives right after start-up (an operator's Ctrl-C, a test's SIGTERM) could vanish. Here a C handler is installed
/// synchronously with `sigaction`; it writes the signal's number to a pipe (async-signal-safe), and a thread of its
/// own reads the pipe and hands the numbers to every stream.
enum SignalPipe {
    /// The pipe's write end: set once, before the first handler is installed; the handler only reads it.
    nonisolated(unsafe) fileprivate static var writeEnd: Int32 = -1
    private static let listeners = Mutex<[UUID: (numbers: Set<Int32>, continuation: AsyncStream<Int32>.Continuation)]>(
        [:]
    )
    private static let started = Mutex(false)

    /// Every later delivery of `numbers` to this process, until the stream is dropped. The handlers stay installed.
    static func stream(of numbers: [Int32]) throws(CLIError) -> AsyncStream<Int32> {
        try startOnce()
        let (stream, continuation) = AsyncStream.makeStream(of: Int32.self)
        let id = UUID()
        listeners.withLock { $0[id] = (Set(numbers), continuation) }
        continuation.onTermination = { _ in _ = listeners.withLock { $0.removeValue(forKey: id) } }
        for number in numbers {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = signalHandler
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_RESTART
            sigaction(number, &action, nil)
        }
        return stream
    }

    private static func startOnce() throws(CLIError) {
        // Under the lock, so a failed attempt leaves it to the next caller and two callers never make two pipes.
        let failure: Int32? = started.withLock { started in
            guard !started else { return nil }
            var ends: [Int32] = [-1, -1]
            guard pipe(&ends) == 0 else { return errno }
            started = true
            start(reading: ends[0], writing: ends[1])
            return nil
        }
        if let failure { throw CLIError("cannot create the signal pipe (errno \(failure))") }
    }

    private static func start(reading readEnd: Int32, writing: Int32) {
        // Children (workers, redis-server) must not inherit either end.
        for end in [readEnd, writing] { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        writeEnd = writing
        // A blocking read on a thread of its own, never on Swift's cooperative pool.
        Thread.detachNewThread {
            var byte: UInt8 = 0
            while true {
                let count = read(readEnd, &byte, 1)
                if count < 0 && errno == EINTR { continue }
                guard count == 1 else { return }
                let number = Int32(byte)
                let targets = listeners.withLock { $0.values.filter { $0.numbers.contains(number) } }
                for target in targets { target.continuation.yield(number) }
            }
        }
    }
}

/// Writes the signal's number to the pipe; only async-signal-safe calls, and `errno` is left as it was.
private let signalHandler: @convention(c) (Int32) -> Void = { number in
    let saved = errno
    var byte = UInt8(truncatingIfNeeded: number)
    _ = write(SignalPipe.writeEnd, &byte, 1)
    errno = saved
}
