/// A reply from Redis (RESP2).
public enum RedisValue: Sendable, Hashable {
    /// A status reply such as `OK` or `PONG`.
    case status(String)
    /// An error reply nested inside an array (top-level errors are thrown as ``RedisError``).
    case error(String)
    /// An integer reply.
    case integer(Int64)
    /// A bulk string, binary safe.
    case bulk([UInt8])
    /// The nil bulk string or nil array.
    case null
    /// An array reply.
    case array([RedisValue])
}

extension RedisValue {
    /// The value as UTF-8 text: bulk strings, status replies and integers; `nil` otherwise.
    public var string: String? {
        switch self {
        case .bulk(let bytes): String(decoding: bytes, as: UTF8.self)
        case .status(let text): text
        case .integer(let value): String(value)
        default: nil
        }
    }

    /// The value as an integer: integer replies and bulk strings that hold a decimal integer.
    public var int: Int64? {
        switch self {
        case .integer(let value): value
        case .bulk(let bytes): Int64(String(decoding: bytes, as: UTF8.self))
        default: nil
        }
    }

    /// The bytes of a bulk string or status reply.
    public var bytes: [UInt8]? {
        switch self {
        case .bulk(let bytes): bytes
        case .status(let text): Array(text.utf8)
        default: nil
        }
    }

    /// The elements of an array reply.
    public var array: [RedisValue]? {
        if case .array(let values) = self { return values }
        return nil
    }

    /// Whether this is the nil reply.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// A flat array of field/value pairs (HGETALL) as a dictionary of UTF-8 keys to bytes.
    public var hash: [String: [UInt8]]? {
        guard case .array(let values) = self, values.count % 2 == 0 else { return nil }
        var result: [String: [UInt8]] = [:]
        result.reserveCapacity(values.count / 2)
        var index = 0
        while index < values.count {
            guard let key = values[index].string, let value = values[index + 1].bytes else { return nil }
            result[key] = value
            index += 2
        }
        return result
    }
}

extension RedisValue: CustomStringConvertible {
    /// A rendering for debugging that never shows the contents of bulk strings (they may be secrets).
    public var description: String {
        switch self {
        case .status(let text): "+\(text)"
        case .error(let text): "-\(text)"
        case .integer(let value): ":\(value)"
        case .bulk(let bytes): "$<\(bytes.count) bytes>"
        case .null: "(nil)"
        case .array(let values): "[" + values.map(\.description).joined(separator: ", ") + "]"
        }
    }
}
