/// Percent-encoding for the parts of Redis URLs this package writes (passwords, TLS query items), the inverse of
/// the decoding in ``RedisConfiguration/init(url:)``.
package enum URLText {
    /// Every byte of `text` but the URL-unreserved ones (`A-Z a-z 0-9 - . _ ~`) and those in `kept` as `%XX`.
    package static func percentEncoded(_ text: String, keeping kept: String = "") -> String {
        let keptBytes = Set(kept.utf8)
        var encoded = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                encoded.unicodeScalars.append(Unicode.Scalar(byte))
            case _ where keptBytes.contains(byte):
                encoded.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                encoded +=
                    "%" + String(byte >> 4, radix: 16, uppercase: true) + String(byte & 15, radix: 16, uppercase: true)
            }
        }
        return encoded
    }
}
