import Foundation
import RedisRefresher
import RedisTestSupport
import Synchronization
import Testing

/// A `refresher-test-worker` child process and the lines it printed.
///
/// `@unchecked Sendable`: `process` and `pipe` are set in init and only read after; `lines` is behind a Mutex.
final class WorkerProcess: @unchecked Sendable {
    let process = Process()
    private let pipe = Pipe()
    private let output = LineBuffer()

    static var executable: URL {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return exe.deletingLastPathComponent().appendingPathComponent("refresher-test-worker")
    }

    init(environment: [String: String]) throws {
        process.executableURL = Self.executable
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        process.environment = env
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        // A reader thread of its own until end of file: Foundation's readability handlers can miss the last chunk
        // (and the end of file) when many processes run at once, and a lost line would look like a lost caller.
        let handle = pipe.fileHandleForReading
        Thread.detachNewThread { [output] in
            while true {
                let data = handle.availableData
                if data.isEmpty {
                    output.withLock { $0.closed = true }
                    return
                }
                output.withLock { output in
                    output.partial += String(decoding: data, as: UTF8.self)
                    while let newline = output.partial.firstIndex(of: "\n") {
                        output.lines.append(String(output.partial[..<newline]))
                        output.partial = String(output.partial[output.partial.index(after: newline)...])
                    }
                }
            }
        }
    }

    var lines: [String] { output.withLock { $0.lines } }
    var pid: Int32 { process.processIdentifier }

    /// The "ready <owner>" line's owner.
    func waitUntilReady(timeout: Duration = .seconds(30)) async throws -> String {
        try await waitUntil(timeout: timeout, "worker \(pid) is ready") {
            self.lines.contains { $0.hasPrefix("ready ") || $0.hasPrefix("error ") }
        }
        guard let line = lines.first(where: { $0.hasPrefix("ready ") }) else {
            throw TestSupportError("worker failed: \(lines.joined(separator: " | "))")
        }
        return String(line.dropFirst("ready ".count))
    }

    /// Waits for the process to exit and returns the parsed per-task results.
    func results(timeout: Duration = .seconds(60)) async throws -> [TaskResult] {
        try await waitUntil(timeout: timeout, "worker \(pid) exits") { !self.process.isRunning }
        try await waitUntil(timeout: .seconds(5), "worker \(pid) output read to its end") {
            self.output.withLock { $0.closed }
        }
        return lines.compactMap(TaskResult.init(line:))
    }

    func signal(_ signal: Int32) { kill(pid, signal) }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

/// One task's line from a worker.
struct TaskResult {
    let ok: Bool
    let generation: Int64?
    let resumedMicroseconds: Int64?
    let calledMicroseconds: Int64?
    let holder: Bool
    let error: String?

    init?(line: String) {
        guard line.hasPrefix("{"), let data = line.data(using: .utf8),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return nil }
        ok = object["ok"] as? Bool ?? false
        generation = (object["generation"] as? NSNumber)?.int64Value
        resumedMicroseconds = (object["t_resume"] as? NSNumber)?.int64Value
        calledMicroseconds = (object["t_call"] as? NSNumber)?.int64Value
        holder = object["holder"] as? Bool ?? false
        error = object["err"] as? String
    }
}

/// Percentile of sorted values (nearest rank).
func percentile(_ sorted: [Int64], _ p: Double) -> Int64 {
    guard !sorted.isEmpty else { return 0 }
    let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
    return sorted[min(max(rank, 0), sorted.count - 1)]
}

/// Unix time in seconds, fractional.
func unixNow() -> Double { Date().timeIntervalSince1970 }

/// One row of the fault table: what every fault test reports (RELIABILITY.md collects these rows).
struct FaultFigures: CustomStringConvertible {
    let fault: String
    var refreshes: Int64
    var reuse: Int64
    var results: [TaskResult]
    var deadline: Duration
    var note = ""

    var resolved: Int { results.filter { $0.ok || $0.error != nil }.count }
    var succeeded: Int { results.filter(\.ok).count }
    /// The slowest caller, from its call to its result, in milliseconds.
    var slowestMilliseconds: Double {
        results.compactMap { result in
            guard let called = result.calledMicroseconds, let resumed = result.resumedMicroseconds else { return nil }
            return Double(resumed - called) / 1000
        }.max() ?? 0
    }
    var errors: String {
        let counts = Dictionary(grouping: results.compactMap(\.error), by: { $0 }).mapValues(\.count)
        return counts.isEmpty
            ? "none" : counts.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }.joined(separator: ", ")
    }

    var description: String {
        String(
            format: "FAULT | %@ | %lld | %lld | %d/%d (ok %d) | %.0f ms / %.0f ms | %@ | %@", fault, refreshes, reuse,
            resolved, results.count, succeeded, slowestMilliseconds, Double(deadline.components.seconds * 1000),
            errors, note)
    }
}

/// Lines read from a child's stdout, shared with its reader thread.
final class LineBuffer: Sendable {
    struct State {
        var lines: [String] = []
        var partial = ""
        var closed = false
    }
    private let state = Mutex(State())

    func withLock<R>(_ body: (inout State) -> R) -> R { state.withLock { body(&$0) } }
}
