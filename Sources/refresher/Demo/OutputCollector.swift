import Foundation

/// Bytes appended from a pipe's handler thread.
///
/// `@unchecked Sendable`: `buffer` is only touched under `lock`.
final class OutputCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var buffer = Data()

    func append(_ data: Data) {
        lock.lock()
        buffer.append(data)
        lock.unlock()
    }

    var data: Data {
        lock.lock()
        defer { lock.unlock() }
        return buffer
    }
}
