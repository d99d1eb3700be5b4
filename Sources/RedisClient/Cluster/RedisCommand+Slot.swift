extension RedisCommand {
    /// The bytes of argument `index` (0 is the command name).
    func argumentBytes(_ index: Int) -> ArraySlice<UInt8> {
        var offset = 0
        for position in 0..<index { offset += lengths[position] }
        return storage[offset..<(offset + lengths[index])]
    }

    /// The hash slot a cluster routes this command by: the slot of its first key (of its shard channel for
    /// `SPUBLISH`), or `nil` for a command without keys (`PING`, `INFO`, `WAIT`, `SCRIPT`, `EVALSHA` with no keys…).
    ///
    /// Multi-key commands are routed by their first key; keys in other slots make the server answer `CROSSSLOT`.
    var clusterSlot: Int? {
        guard let position = firstKeyPosition else { return nil }
        return HashSlot.of(argumentBytes(position))
    }

    /// Where the first key is: after `numkeys` for scripts and functions, the third argument of `MEMORY USAGE`,
    /// `OBJECT …` and `XINFO …`, none for commands about the server or the connection, otherwise the first argument.
    private var firstKeyPosition: Int? {
        guard count >= 2 else { return nil }
        let name = argumentBytes(0)
        if Self.matches(name, Self.scriptCommands) {
            guard count >= 4, let keys = Int(String(decoding: argumentBytes(2), as: UTF8.self)), keys > 0 else {
                return nil
            }
            return 3
        }
        if Self.matches(name, Self.subcommandKeyCommands) { return count >= 3 ? 2 : nil }
        if Self.matches(name, Self.keylessCommands) { return nil }
        return 1
    }

    private static let scriptCommands: [[UInt8]] = ["EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"]
        .map { Array($0.utf8) }
    private static let subcommandKeyCommands: [[UInt8]] = ["MEMORY", "OBJECT", "XINFO"].map { Array($0.utf8) }
    private static let keylessCommands: [[UInt8]] = [
        "PING", "ECHO", "INFO", "TIME", "WAIT", "WAITAOF", "SCRIPT", "FUNCTION", "CLUSTER", "CLIENT", "CONFIG",
        "COMMAND", "DBSIZE", "FLUSHALL", "FLUSHDB", "SCAN", "KEYS", "RANDOMKEY", "PUBLISH", "PUBSUB", "SELECT", "AUTH",
        "HELLO", "ROLE", "SLOWLOG", "LATENCY", "ACL", "DEBUG", "LASTSAVE", "SAVE", "BGSAVE", "BGREWRITEAOF",
        "READONLY", "READWRITE", "ASKING", "MULTI", "EXEC", "DISCARD", "UNWATCH", "RESET", "SHUTDOWN", "REPLICAOF",
        "SLAVEOF", "FAILOVER", "SWAPDB", "MONITOR", "SUBSCRIBE", "UNSUBSCRIBE", "PSUBSCRIBE", "PUNSUBSCRIBE",
        "QUIT", "LOLWUT", "MODULE", "SENTINEL",
    ].map { Array($0.utf8) }

    /// Whether `name` equals one of `candidates` (upper-case ASCII), ignoring case.
    private static func matches(_ name: ArraySlice<UInt8>, _ candidates: [[UInt8]]) -> Bool {
        candidates.contains { candidate in
            candidate.count == name.count
                && zip(candidate, name).allSatisfy { expected, byte in
                    expected == byte
                        || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z") && expected == byte - 32)
                }
        }
    }
}

extension RedisCommand {
    /// Whether the command's name is `name` (upper-case ASCII), ignoring case.
    func isNamed(_ name: StaticString) -> Bool {
        guard count > 0 else { return false }
        let actual = argumentBytes(0)
        guard actual.count == name.utf8CodeUnitCount else { return false }
        return name.withUTF8Buffer { expected in
            zip(expected, actual).allSatisfy { want, byte in
                want == byte || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z") && want == byte - 32)
            }
        }
    }
}
