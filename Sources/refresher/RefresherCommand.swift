import ArgumentParser
import Foundation
import RedisRefresher

/// `refresher`: runs a demo fleet, and lets operators watch and repair a shared session.
@main
struct RefresherCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "refresher",
        abstract: "Share one session across a fleet and refresh it exactly once per expiry, coordinated by Redis.",
        subcommands: [
            DemoCommand.self, StatusCommand.self, WatchCommand.self, ReleaseCommand.self, SessionCommand.self,
            WorkerCommand.self, IdpCommand.self, BenchCommand.self, WaitersCommand.self, SessionsWorkerCommand.self,
        ]
    )

    /// Parses and runs a subcommand; every failure becomes one line on stderr and a non-zero exit, never a trace.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as RefresherError {
            printError("refresher: error: \(error.message)")
            Foundation.exit(1)
        } catch let error as RedisError {
            printError("refresher: error: \(error.message)")
            Foundation.exit(1)
        } catch let error as CLIError {
            printError("refresher: error: \(error.description)")
            Foundation.exit(1)
        } catch {
            // --help and --version print their full text; everything else (unknown flags, failed validation, an
            // explicit exit code) is one line, like the errors above.
            let code = exitCode(for: error)
            guard code != .success else { exit(withError: error) }
            let message = message(for: error).split(whereSeparator: \.isNewline).joined(separator: "; ")
            if !message.isEmpty { printError("refresher: error: \(message) (see --help)") }
            Foundation.exit(code.rawValue)
        }
    }
}
