/// Printing an argument shows its size only: `<12 bytes>`.
extension RedisArgument: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// `<12 bytes>`.
    public var description: String { Self.sizeText(byteCount) }

    /// The same as ``description``.
    public var debugDescription: String { description }

    /// The size only.
    public var customMirror: Mirror { Mirror(self, children: ["byteCount": byteCount], displayStyle: .struct) }

    /// The number of bytes sent.
    package var byteCount: Int {
        switch storage {
        case .string(let text): text.utf8.count
        case .bytes(let bytes): bytes.count
        }
    }

    static func sizeText(_ count: Int) -> String { count == 1 ? "<1 byte>" : "<\(count) bytes>" }
}
