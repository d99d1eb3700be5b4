import ChildProcesses
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// What the child-process helper does when the task that waits on a child is cancelled.
@Suite("ChildProcess cancellation")
struct ChildProcessCancellationTests {
    /// Says "ready", then runs until SIGTERM, which it answers with "got TERM" and exit code 6.
    static let stoppable = ChildProcessTests.shell(
        "trap 'echo got TERM; exit 6' TERM; echo ready; while :; do sleep 0.05; done"
    )

    /// Runs `body` in a task that is cancelled at once; the error it threw.
    static func cancelled(
        _ body: @escaping @Sendable () async throws(ChildProcessError) -> Void
    ) async -> ChildProcessError? {
        let task = Task { () -> ChildProcessError? in
            do throws(ChildProcessError) {
                try await body()
                return nil
            } catch {
                return error
            }
        }
        task.cancel()
        return await task.value
    }

    @Test("A cancelled wait says so at once and leaves the child running")
    func cancelledWait() async throws {
        let child = try await ChildProcess.start(Self.stoppable)
        try await child.waitForLine(timeout: .seconds(10)) { $0 == "ready" }
        let started = ContinuousClock.now
        let error = await Self.cancelled { () async throws(ChildProcessError) in
            _ = try await child.wait(timeout: .seconds(30))
        }
        #expect(error?.kind == .cancelled)
        #expect(error?.description == "waiting for sh -c was cancelled")
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(child.isRunning)
        // Still alive, so its own handler answers SIGTERM.
        #expect(await child.terminate(grace: .seconds(10)) == .exited(6))
        #expect(child.lines() == ["ready", "got TERM"])
    }

    @Test("A cancelled wait for a line says so and leaves the child running")
    func cancelledWaitForLine() async throws {
        let child = try await ChildProcess.start(Self.stoppable)
        try await child.waitForLine(timeout: .seconds(10)) { $0 == "ready" }
        let error = await Self.cancelled { () async throws(ChildProcessError) in
            try await child.waitForLine(timeout: .seconds(30)) { $0 == "never" }
        }
        #expect(error?.kind == .cancelled)
        #expect(error?.description == "waiting for a line from sh -c was cancelled")
        #expect(child.isRunning)
        #expect(await child.terminate(grace: .seconds(10)) == .exited(6))
    }

    @Test("A cancelled run says so, and its child is killed as its handle goes away")
    func cancelledRun() async throws {
        let pidFile = FileManager.default.temporaryDirectory.appendingPathComponent("child-\(UUID().uuidString).pid")
        defer { try? FileManager.default.removeItem(at: pidFile) }
        let running = Task { () -> ChildProcessError? in
            do throws(ChildProcessError) {
                _ = try await ChildProcess.run(
                    ChildProcessTests.shell("echo $$ > '\(pidFile.path)'; exec sleep 30"),
                    timeout: .seconds(60)
                )
                return nil
            } catch {
                return error
            }
        }
        let written = try await waitUntil(timeout: .seconds(10)) {
            (try? String(contentsOf: pidFile, encoding: .utf8))?.hasSuffix("\n") == true
        }
        #expect(written)
        let pid = try #require(Int32(String(contentsOf: pidFile, encoding: .utf8).dropLast()))
        running.cancel()
        let error = await running.value
        #expect(error?.kind == .cancelled)
        // Killed and reaped: the pid no longer exists.
        let gone = try await waitUntil(timeout: .seconds(10)) { kill(pid, 0) == -1 && errno == ESRCH }
        #expect(gone)
    }

    @Test("A cancelled terminate still gives the grace period, and returns once the child is reaped")
    func cancelledTerminate() async throws {
        let child = try await ChildProcess.start(Self.stoppable)
        try await child.waitForLine(timeout: .seconds(10)) { $0 == "ready" }
        let stopping = Task { await child.terminate(grace: .seconds(10)) }
        stopping.cancel()
        #expect(await stopping.value == .exited(6))
        #expect(child.lines() == ["ready", "got TERM"])
        #expect(!child.isRunning)
        #expect(kill(child.processIdentifier, 0) == -1 && errno == ESRCH)
    }

    @Test("A cancelled terminate kills a child that ignores SIGTERM once the grace period is over")
    func cancelledTerminateEscalates() async throws {
        let child = try await ChildProcess.start(
            ChildProcessTests.shell("trap '' TERM; echo ready; read never", input: .writer)
        )
        try await child.waitForLine(timeout: .seconds(10)) { $0 == "ready" }
        let started = ContinuousClock.now
        let stopping = Task { await child.terminate(grace: .milliseconds(300)) }
        stopping.cancel()
        #expect(await stopping.value == .signaled(SIGKILL))
        #expect(ContinuousClock.now - started >= .milliseconds(300))
        #expect(!child.isRunning)
    }
}
