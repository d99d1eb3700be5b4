import ChildProcesses
import Foundation
import RedisRefresher

/// One worker process of the demo: its stdout collected for the summary line, its stderr passed through.
final class DemoWorker: Sendable {
    private let child: ChildProcess

    init(environment: [String: String]) async throws {
        child = try await ChildProcess.start(.refresher(["worker"], environment: environment))
    }

    var isRunning: Bool { child.isRunning }
    var pid: Int32 { child.processIdentifier }

    /// Forwards a signal (the demo's Ctrl-C or SIGTERM).
    func send(_ signal: Int32) {
        child.send(signal)
    }

    /// The worker's summary line, once it has exited.
    var summary: WorkerSummary? {
        for line in child.lines().reversed() {
            if let summary = try? JSONDecoder().decode(WorkerSummary.self, from: Data(line.utf8)) { return summary }
        }
        return nil
    }
}
