/// Reflection of a reply hides the contents of bulk strings like ``description`` does: they may be tokens.
extension RedisValue: CustomDebugStringConvertible, CustomReflectable {
    /// The same as ``description``.
    public var debugDescription: String { description }

    /// Bulk strings as their size (`<12 bytes>`), arrays as their elements, everything else as is.
    public var customMirror: Mirror {
        switch self {
        case .status(let text): Mirror(self, children: ["status": text], displayStyle: .enum)
        case .error(let text): Mirror(self, children: ["error": text], displayStyle: .enum)
        case .integer(let value): Mirror(self, children: ["integer": value], displayStyle: .enum)
        case .bulk(let bytes): Mirror(self, children: ["bulk": "<\(bytes.count) bytes>"], displayStyle: .enum)
        case .null: Mirror(self, children: [:], displayStyle: .enum)
        case .array(let values): Mirror(self, unlabeledChildren: values, displayStyle: .collection)
        }
    }
}
