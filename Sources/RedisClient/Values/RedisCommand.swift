/// One command: binary-safe arguments packed into a single buffer.
///
/// Packing keeps a command to two allocations however many arguments it has, and lets the I/O thread hand hiredis
/// pointers into one stable buffer (`redisAppendCommandArgv`).
public struct RedisCommand: Sendable, Hashable {
    @usableFromInline var storage: [UInt8]
    @usableFromInline var lengths: [Int]

    /// A command from its arguments, the first being the command name.
    public init(_ arguments: [RedisArgument]) {
        storage = []
        lengths = []
        lengths.reserveCapacity(arguments.count)
        for argument in arguments { append(argument) }
    }

    /// A command from its arguments, the first being the command name.
    public init(_ arguments: RedisArgument...) {
        self.init(arguments)
    }

    /// Appends one argument.
    @inlinable
    public mutating func append(_ argument: RedisArgument) {
        switch argument.storage {
        case .string(let text):
            let before = storage.count
            storage.append(contentsOf: text.utf8)
            lengths.append(storage.count - before)
        case .bytes(let bytes):
            storage.append(contentsOf: bytes)
            lengths.append(bytes.count)
        }
    }

    /// The number of arguments.
    public var count: Int { lengths.count }

    /// The command name (first argument), upper-cased, for logs and metrics. Never the arguments.
    public var name: String {
        guard let first = lengths.first else { return "" }
        return String(decoding: storage[0..<first], as: UTF8.self).uppercased()
    }

    /// Calls `body` with C `argv`/`argvlen` arrays that point into this command's buffer.
    func withArgv<R>(_ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R) -> R {
        storage.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                var pointers: [UnsafePointer<CChar>?] = []
                pointers.reserveCapacity(lengths.count)
                var offset = 0
                // An empty argument may sit at the end of the buffer (or the buffer may be empty): any valid
                // pointer works because hiredis reads zero bytes from it.
                let base = chars.baseAddress ?? UnsafePointer(bitPattern: 1)!
                for length in lengths {
                    pointers.append(base + offset)
                    offset += length
                }
                return pointers.withUnsafeMutableBufferPointer { argv in
                    lengths.withUnsafeBufferPointer { argvlen in
                        body(Int32(lengths.count), argv.baseAddress!, argvlen.baseAddress!)
                    }
                }
            }
        }
    }
}

/// One argument of a command: UTF-8 text or raw bytes.
public struct RedisArgument: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    @usableFromInline enum Storage: Sendable, Hashable {
        case string(String)
        case bytes([UInt8])
    }
    @usableFromInline let storage: Storage

    /// Text, sent as its UTF-8 bytes.
    public init(_ string: String) { storage = .string(string) }
    /// Raw bytes.
    public init(_ bytes: [UInt8]) { storage = .bytes(bytes) }
    /// An integer, sent in decimal.
    public init<I: BinaryInteger>(_ value: I) { storage = .string(String(value)) }

    public init(stringLiteral value: String) { self.init(value) }
    public init(integerLiteral value: Int) { self.init(value) }
}
