/// Formatted commands waiting to be written: appended at the end, consumed from the front.
struct OutputBuffer {
    private var bytes: [UInt8] = []
    private var start = 0

    /// Whether nothing waits to be written.
    var isEmpty: Bool { start == bytes.count }

    /// Appends raw bytes.
    mutating func append(_ data: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: data)
    }

    /// Calls `body` with the bytes not yet written.
    func withUnsentBytes<R>(_ body: (UnsafeRawBufferPointer) throws(RedisError) -> R) throws(RedisError) -> R {
        let result: Result<R, RedisError> = bytes.withUnsafeBytes { all in
            do throws(RedisError) {
                return .success(try body(UnsafeRawBufferPointer(rebasing: all[start...])))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Drops `count` written bytes from the front.
    mutating func consume(_ count: Int) {
        start += count
        if start == bytes.count {
            bytes.removeAll(keepingCapacity: bytes.capacity <= 1 << 20)
            start = 0
        } else if start >= 1 << 16 && start * 2 >= bytes.count {
            // Compact now and then so a long pipeline that drains slowly does not keep its written head.
            bytes.removeFirst(start)
            start = 0
        }
    }
}
