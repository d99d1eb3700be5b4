/// Redis Cluster's key → slot function: CRC16 (XMODEM) of the key, or of its hash tag, modulo 16384.
///
/// A hash tag is the text between the first `{` and the next `}` when it is not empty: `{tenant}.lock` and
/// `{tenant}.session` share a slot, which is how one session's keys stay on one node.
public enum HashSlot {
    /// The number of slots in a Redis Cluster.
    public static let count = 16384

    /// The slot of `key`.
    public static func of<Bytes: Collection<UInt8>>(_ key: Bytes) -> Int {
        if let open = key.firstIndex(of: UInt8(ascii: "{")) {
            let afterOpen = key.index(after: open)
            if let close = key[afterOpen...].firstIndex(of: UInt8(ascii: "}")), close != afterOpen {
                return Int(crc16(key[afterOpen..<close]) & 0x3FFF)
            }
        }
        return Int(crc16(key) & 0x3FFF)
    }

    /// The slot of `key`'s UTF-8 bytes.
    public static func of(_ key: String) -> Int {
        of(Array(key.utf8))
    }

    /// CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, no reflection, as Redis's `crc16.c`.
    static func crc16<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc = (crc << 8) ^ table[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)]
        }
        return crc
    }

    private static let table: [UInt16] = (0..<256).map { index in
        var crc = UInt16(index) << 8
        for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        return crc
    }
}
