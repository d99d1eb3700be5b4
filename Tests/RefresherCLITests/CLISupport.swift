import Foundation
import RedisTestSupport

/// Runs the built `refresher` executable.
enum CLI {
    static var executable: URL {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("refresher")
    }

    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    /// Runs `refresher` with `arguments`, feeding `stdin`, and waits (bounded) for it to exit.
    static func run(
        _ arguments: [String], stdin: String? = nil, environment: [String: String] = [:], removing: [String] = [],
        timeout: Duration = .seconds(60)
    ) async throws -> Result {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        for key in removing { env[key] = nil }
        process.environment = env
        let out = Pipe()
        let err = Pipe()
        let input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        // Pipes are drained by their readability handlers (dispatch threads), never by blocking reads on the
        // cooperative pool, which would starve servers running in the test process.
        let stdoutData = Collected()
        let stderrData = Collected()
        out.fileHandleForReading.readabilityHandler = { stdoutData.append($0.availableData) }
        err.fileHandleForReading.readabilityHandler = { stderrData.append($0.availableData) }
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        try await waitUntil(timeout: timeout, "refresher \(arguments.first ?? "") exits") { !process.isRunning }
        try await waitUntil(timeout: .seconds(5), "the output pipes reach end of file") {
            stdoutData.isClosed && stderrData.isClosed
        }
        out.fileHandleForReading.readabilityHandler = nil
        err.fileHandleForReading.readabilityHandler = nil
        return Result(
            status: process.terminationStatus, stdout: String(decoding: stdoutData.data, as: UTF8.self),
            stderr: String(decoding: stderrData.data, as: UTF8.self))
    }
}

/// Bytes collected from a pipe by its readability handler; an empty read means end of file.
final class Collected: @unchecked Sendable {
    // `@unchecked Sendable`: every property is only touched under `lock`.
    private let lock = NSLock()
    private var buffer = Data()
    private var closed = false

    func append(_ data: Data) {
        lock.withLock {
            if data.isEmpty { closed = true } else { buffer.append(data) }
        }
    }

    var data: Data { lock.withLock { buffer } }
    var isClosed: Bool { lock.withLock { closed } }
}
