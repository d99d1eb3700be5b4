/// One output stream of a child, split into lines as its bytes arrive: complete lines, and the line being written
/// (a prompt, or a last line without a newline).
struct OutputLines: Sendable {
    /// Complete lines, without their newlines; at the end of the stream, also its unterminated last line.
    private(set) var lines: [String] = []
    private var partial: [UInt8] = []
    private var lastLineUnterminated = false
    /// Whether the stream has ended (the child closed it, or exited).
    private(set) var isEnded = false

    /// The text so far, byte for byte (invalid UTF-8 repaired).
    var text: String {
        var text = lines.map { $0 + "\n" }.joined()
        if lastLineUnterminated { text.removeLast() }
        return text + String(decoding: partial, as: UTF8.self)
    }

    /// Adds bytes; whether a line was completed.
    mutating func append(_ bytes: some Collection<UInt8>) -> Bool {
        let before = lines.count
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                lines.append(String(decoding: partial, as: UTF8.self))
                partial.removeAll(keepingCapacity: true)
            } else {
                partial.append(byte)
            }
        }
        return lines.count > before
    }

    /// The stream has ended: an unterminated last line counts as a line.
    mutating func finish() {
        isEnded = true
        guard !partial.isEmpty else { return }
        lines.append(String(decoding: partial, as: UTF8.self))
        partial = []
        lastLineUnterminated = true
    }

    /// The first line at `index` or after it that `matches`. `index` moves past every line checked, so that a waiter
    /// checks each line once however many chunks arrive.
    func firstLine(from index: inout Int, where matches: (String) -> Bool) -> String? {
        while index < lines.count {
            let line = lines[index]
            index += 1
            if matches(line) { return line }
        }
        return nil
    }
}
