import Foundation

/// SIGTERM/SIGINT handling for long-running subcommands: run a cleanup (release held locks), then exit 143/130.
enum ShutdownSignal {
    /// Installs the handlers; cancel the returned token to stop reacting (the signals are then ignored).
    static func install(_ cleanup: @escaping @Sendable () async -> Void) throws(CLIError) -> Token {
        let signals = try SignalPipe.stream(of: [SIGTERM, SIGINT])
        let task = Task {
            for await number in signals {
                await cleanup()
                Foundation.exit(number == SIGTERM ? 143 : 130)
            }
        }
        return Token(task: task)
    }

    /// Keeps the reaction alive until cancelled.
    struct Token: Sendable {
        let task: Task<Void, Never>

        func cancel() { task.cancel() }
    }
}
