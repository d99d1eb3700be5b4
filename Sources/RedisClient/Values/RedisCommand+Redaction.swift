/// Printing a command shows its name and the size of each argument, never an argument: arguments carry keys,
/// tokens and `AUTH` passwords.
extension RedisCommand: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// `RedisCommand(SET <5 bytes> <12 bytes>)`.
    public var description: String {
        guard !lengths.isEmpty else { return "RedisCommand()" }
        return "RedisCommand(" + ([shownName] + argumentSizes).joined(separator: " ") + ")"
    }

    /// The same as ``description``.
    public var debugDescription: String { description }

    /// The command name and the size of each further argument.
    public var customMirror: Mirror {
        Mirror(self, children: ["name": shownName, "arguments": argumentSizes], displayStyle: .struct)
    }

    /// The name as ``name`` when it looks like one (short printable ASCII), else its size.
    private var shownName: String {
        guard let first = lengths.first else { return "" }
        let bytes = storage[0..<first]
        guard (1...32).contains(first), bytes.allSatisfy({ $0 > 32 && $0 < 127 }) else {
            return RedisArgument.sizeText(first)
        }
        return name
    }

    /// `<N bytes>` for every argument after the name.
    private var argumentSizes: [String] { lengths.dropFirst().map(RedisArgument.sizeText) }
}
