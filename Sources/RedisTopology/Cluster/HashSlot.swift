/// The hash slot of a key in Redis Cluster: CRC16 (XMODEM: polynomial 0x1021, initial value 0) of the key, or of
/// its hash tag, modulo 16384.
///
/// The hash tag is the part between the first `{` and the first `}` after it, when that part is not empty: keys
/// that share one (`{user1}:a`, `{user1}:b`) share a slot. `{}x` and `{` have none and hash whole.
enum HashSlot {
    /// How many slots a cluster has.
    static let count = 16384

    /// The slot of `key`'s bytes.
    static func slot(of key: some Collection<UInt8>) -> Int {
        Int(crc16(hashedPart(of: key))) & (count - 1)
    }

    /// The hash tag of `key` when it has one, else `key` whole.
    static func hashedPart<Key: Collection<UInt8>>(of key: Key) -> Key.SubSequence {
        guard let open = key.firstIndex(of: UInt8(ascii: "{")) else { return key[...] }
        let afterOpen = key.index(after: open)
        guard let close = key[afterOpen...].firstIndex(of: UInt8(ascii: "}")), close != afterOpen else {
            return key[...]
        }
        return key[afterOpen..<close]
    }

    /// CRC16/XMODEM, the checksum Redis Cluster uses (`crc16.c` in Redis).
    static func crc16(_ bytes: some Sequence<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc = (crc << 8) ^ table[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)]
        }
        return crc
    }

    /// The CRC of each byte value, for one table lookup per byte.
    private static let table: [UInt16] = (0..<256).map { value in
        var crc = UInt16(value) << 8
        for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        return crc
    }
}
