import ChildProcesses
import Foundation
import RedisRefresher
import RedisTestSupport
import Testing

/// A `refresher-test-worker` child process and the lines it printed.
final class WorkerProcess: Sendable {
    private let child: ChildProcess

    static var executable: URL {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return exe.deletingLastPathComponent().appendingPathComponent("refresher-test-worker")
    }

    init(environment: [String: String]) async throws {
        child = try await ChildProcess.start(
            .init(executable: Self.executable.path, environment: environment, standardError: .collect)
        )
    }

    /// `count` workers with the same environment.
    static func start(_ count: Int, environment: [String: String]) async throws -> [WorkerProcess] {
        var workers: [WorkerProcess] = []
        for _ in 0..<count { workers.append(try await WorkerProcess(environment: environment)) }
        return workers
    }

    var lines: [String] { child.lines() }
    /// What it wrote to stderr: its log when started with `LOG_LEVEL`.
    var errorLines: [String] { child.lines(of: .standardError) }
    var pid: Int32 { child.processIdentifier }

    /// The "ready <owner>" line's owner.
    func waitUntilReady(timeout: Duration = .seconds(30)) async throws -> String {
        let line = try await child.waitForLine(timeout: timeout) { $0.hasPrefix("ready ") || $0.hasPrefix("error ") }
        guard line.hasPrefix("ready ") else {
            throw TestSupportError("worker failed: \(lines.joined(separator: " | "))")
        }
        return String(line.dropFirst("ready ".count))
    }

    /// Waits for the process to exit, its output read to the end, and returns the parsed per-task results.
    func results(timeout: Duration = .seconds(60)) async throws -> [TaskResult] {
        try await child.wait(timeout: timeout)
        return lines.compactMap(TaskResult.init(line:))
    }

    /// Waits for the process to exit, its output read to the end; kills it after `timeout`.
    func termination(timeout: Duration) async throws -> ChildProcess.Termination {
        try await child.wait(timeout: timeout)
    }

    func signal(_ signal: Int32) { child.send(signal) }
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
            format: "FAULT | %@ | %lld | %lld | %d/%d (ok %d) | %.0f ms / %.0f ms | %@ | %@",
            fault,
            refreshes,
            reuse,
            resolved,
            results.count,
            succeeded,
            slowestMilliseconds,
            Double(deadline.components.seconds * 1000),
            errors,
            note
        )
    }
}

extension WorkerProcess {
    /// Collects every worker's results and checks a storm's outcome: `callers` results, all served with `generation`,
    /// one refresh at the provider and no reuse; on a failure, prints the workers' error lines.
    static func expectOneRefresh(
        by workers: [WorkerProcess],
        callers: Int,
        generation: Int64,
        scenario: Scenario
    ) async throws -> [TaskResult] {
        var results: [TaskResult] = []
        for worker in workers { results += try await worker.results() }
        #expect(results.count == callers)
        if !results.allSatisfy(\.ok) {
            for worker in workers { print(worker.errorLines.joined(separator: "\n")) }
        }
        let failures = Dictionary(grouping: results.filter { !$0.ok }, by: { $0.error ?? "?" }).mapValues(\.count)
        #expect(
            results.allSatisfy { $0.ok && $0.generation == generation },
            "failures: \(failures), generations: \(Set(results.map(\.generation)))"
        )
        #expect(try await scenario.idp.refreshCount() == 1)
        #expect(try await scenario.idp.reuseCount() == 0)
        return results
    }
}
