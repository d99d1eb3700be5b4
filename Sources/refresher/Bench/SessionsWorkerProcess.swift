import ChildProcesses
import Foundation

/// One `refresher _sessions` process, driven through its standard input (see ``SessionsWorker``).
final class SessionsWorkerProcess: Sendable {
    private let child: ChildProcess

    /// Starts `refresher _sessions <arguments>`; the Redis URL goes in `environment`, never in argv (visible to `ps`).
    init(arguments: [String], environment: [String: String]) async throws {
        var configuration = ChildProcess.Configuration.refresher(
            ["_sessions"] + arguments,
            environment: environment,
            standardError: .collect
        )
        configuration.standardInput = .writer
        child = try await ChildProcess.start(configuration)
    }

    /// Waits for the worker's line of `phase`.
    func line(_ phase: SessionsWorkerLine.Phase, timeout: Duration) async throws -> SessionsWorkerLine {
        let text: String
        do {
            text = try await child.waitForLine(on: .standardOutput, timeout: timeout) { line in
                (try? JSONDecoder().decode(SessionsWorkerLine.self, from: Data(line.utf8)))?.phase == phase
            }
        } catch {
            let said = child.lines(of: .standardError).suffix(3).joined(separator: "; ")
            throw CLIError(
                "a sessions worker wrote no '\(phase.rawValue)' line: \(error)\(said.isEmpty ? "" : ": \(said)")"
            )
        }
        return try JSONDecoder().decode(SessionsWorkerLine.self, from: Data(text.utf8))
    }

    /// The worker's CPU time so far, seconds.
    var cpuSeconds: Double? { ProcessUsage.cpuSeconds(pid: child.processIdentifier) }

    /// Sends one command line (`load <unix time>`, `exit`).
    func send(_ command: String) {
        child.write(command + "\n")
    }

    /// Asks the worker to exit and waits for it (killing it after `timeout`).
    func stop(timeout: Duration = .seconds(30)) async {
        send("exit")
        child.closeInput()
        if (try? await child.wait(timeout: timeout)) == nil { _ = await child.terminate(grace: .seconds(2)) }
    }
}
