/// A validated session name: 1–200 bytes of `A-Z a-z 0-9 . _ - :`.
///
/// The name becomes part of Redis keys and a channel (`refresher:{S}:lock`), so braces (hash tags), glob
/// characters, spaces and control characters are refused at construction.
public struct SessionName: Sendable, Hashable, CustomStringConvertible {
    /// The name.
    public let rawValue: String

    /// Validates `rawValue`.
    public init(_ rawValue: String) throws(RefresherError) {
        let bytes = rawValue.utf8
        guard !bytes.isEmpty else { throw RefresherError(.invalidConfiguration, "the session name is empty") }
        guard bytes.count <= 200 else {
            throw RefresherError(
                .invalidConfiguration,
                "the session name has \(bytes.count) bytes; at most 200 are allowed"
            )
        }
        guard bytes.allSatisfy(Self.isAllowed) else {
            throw RefresherError(
                .invalidConfiguration,
                "the session name may contain only A-Z a-z 0-9 . _ - : (no spaces, braces or glob characters)"
            )
        }
        self.rawValue = rawValue
    }

    public var description: String { rawValue }

    private static func isAllowed(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"),
            UInt8(ascii: ":"):
            true
        default: false
        }
    }
}
