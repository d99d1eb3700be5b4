import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Copies ``ChildProcess/Output/forward`` output to a descriptor of this process (its stdout or stderr), chunk by
/// chunk, each chunk written whole.
///
/// `write(2)` blocks while the descriptor cannot take more (a paused terminal, a pipe nobody reads), so it runs on a
/// serial queue of its own, never on a thread of Swift's cooperative pool. The reading task awaits each write: a
/// stalled descriptor stalls the child (its pipe fills) rather than buffering its output without bound.
final class OutputForwarder: Sendable {
    static let standardOutput = OutputForwarder(descriptor: STDOUT_FILENO)
    static let standardError = OutputForwarder(descriptor: STDERR_FILENO)

    let descriptor: Int32
    private let queue: DispatchQueue

    init(descriptor: Int32) {
        self.descriptor = descriptor
        queue = DispatchQueue(label: "ChildProcess.forward.\(descriptor)")
    }

    /// Writes `chunk` whole (what is left of it is dropped if the descriptor fails), after every chunk before it.
    func forward(_ chunk: [UInt8]) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async { [descriptor] in
                Self.writeWhole(chunk, to: descriptor)
                continuation.resume()
            }
        }
    }

    private static func writeWhole(_ chunk: [UInt8], to descriptor: Int32) {
        var bytes = chunk[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if written < 0, errno == EINTR { continue }
            guard written > 0 else { return }
            bytes = bytes.dropFirst(written)
        }
    }
}
