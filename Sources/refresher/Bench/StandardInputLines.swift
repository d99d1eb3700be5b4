import Foundation

/// The lines of this process's standard input, as a parent process writes them.
enum StandardInputLines {
    /// Every line (without its newline) until end of file. The blocking reads run on a thread of their own, never on
    /// Swift's cooperative pool.
    static func stream() -> AsyncStream<String> {
        let (stream, continuation) = AsyncStream.makeStream(of: String.self)
        let reader = Thread {
            while let line = readLine(strippingNewline: true) { continuation.yield(line) }
            continuation.finish()
        }
        reader.name = "stdin-lines"
        reader.start()
        return stream
    }
}
