import Foundation

/// SIGTERM/SIGINT handling for long-running subcommands: run a cleanup (release held locks), then exit 143/130.
enum ShutdownSignal {
    /// Installs the handlers; cancel the returned token to remove them.
    static func install(_ cleanup: @escaping @Sendable () async -> Void) -> Token {
        var sources: [any DispatchSourceSignal] = []
        for (number, code) in [(SIGTERM, Int32(143)), (SIGINT, Int32(130))] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                Task {
                    await cleanup()
                    Foundation.exit(code)
                }
            }
            source.resume()
            sources.append(source)
        }
        return Token(sources: sources)
    }

    /// Keeps the signal sources alive.
    ///
    /// `@unchecked Sendable`: dispatch sources are thread-safe; the array is never mutated after creation.
    struct Token: @unchecked Sendable {
        let sources: [any DispatchSourceSignal]

        func cancel() {
            for source in sources { source.cancel() }
        }
    }
}
