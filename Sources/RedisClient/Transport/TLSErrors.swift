import COpenSSL

/// Turns OpenSSL's thread-local error queue into one-line ``RedisError``s.
enum TLSErrors {
    /// A ``RedisError/Code/tlsFailed`` error: `message`, then the reasons OpenSSL queued (the queue is emptied).
    static func failure(_ message: String) -> RedisError {
        let reasons = drain()
        return RedisError(.tlsFailed, reasons.isEmpty ? message : "\(message): \(reasons.joined(separator: "; "))")
    }

    /// The reason texts of every queued error, oldest first; empties the queue.
    static func drain() -> [String] {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            reasons.append(reasonText(code))
        }
        return reasons
    }

    /// The queued error reason codes, oldest first, and their texts; empties the queue.
    static func drainCodes() -> [(reason: Int32, text: String)] {
        var entries: [(Int32, String)] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            entries.append((copenssl_error_reason(code), reasonText(code)))
        }
        return entries
    }

    private static func reasonText(_ code: UInt) -> String {
        if let text = ERR_reason_error_string(code) { return String(cString: text) }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
