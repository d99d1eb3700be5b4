import Foundation
import RedisRefresher

/// One worker process of the demo.
///
/// `@unchecked Sendable`: `process` and `pipe` are set once; the output is read after the process exits.
final class DemoWorker: @unchecked Sendable {
    private let process = Process()
    private let pipe = Pipe()
    private let collected = OutputCollector()

    init(environment: [String: String]) throws {
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = ["worker"]
        var env = ProcessInfo.processInfo.environment
        // The password, if any, is in REDIS_URL now: a second source would be refused as ambiguous.
        for key in RedisPasswordOptions.variables { env[key] = nil }
        for (key, value) in environment { env[key] = value }
        process.environment = env
        process.standardOutput = pipe
        process.standardError = FileHandle.standardError
        let collected = self.collected
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if !data.isEmpty { collected.append(data) }
        }
        try process.run()
    }

    var isRunning: Bool { process.isRunning }
    var pid: Int32 { process.processIdentifier }

    func terminate() {
        if process.isRunning { process.terminate() }
    }

    /// The worker's summary line, once it has exited.
    var summary: WorkerSummary? {
        let text = String(decoding: collected.data, as: UTF8.self)
        for line in text.split(separator: "\n").reversed() {
            if let summary = try? JSONDecoder().decode(WorkerSummary.self, from: Data(line.utf8)) { return summary }
        }
        return nil
    }
}
