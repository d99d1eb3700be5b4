import Foundation
import Testing

@testable import ChildProcesses

#if canImport(Glibc)
import Glibc
#endif

/// The child-process helper against real children (`/bin/sh`, `/bin/cat`, `/usr/bin/env`).
@Suite("ChildProcess")
struct ChildProcessTests {
    static func shell(_ script: String, input: ChildProcess.Input = .none) -> ChildProcess.Configuration {
        ChildProcess.Configuration(executable: "/bin/sh", arguments: ["-c", script], standardInput: input)
    }

    @Test("The last line is read even without a newline, and stdout and stderr stay apart")
    func lastLineWithoutNewline() async throws {
        let completed = try await ChildProcess.run(
            Self.shell("echo one; echo problem >&2; printf 'two\\nthree'; exit 3"),
            timeout: .seconds(30)
        )
        #expect(completed.termination == .exited(3))
        #expect(completed.termination.status == 3)
        #expect(completed.standardOutput == ["one", "two", "three"])
        #expect(completed.standardError == ["problem"])
        #expect(completed.outputText == "one\ntwo\nthree")
    }

    @Test("A hundred concurrent children each deliver every line, the last one included")
    func concurrentChildrenLoseNothing() async throws {
        try await withThrowingTaskGroup(of: ChildProcess.Completed.self) { group in
            for index in 0..<100 {
                group.addTask {
                    try await ChildProcess.run(
                        Self.shell("echo first-\(index); echo err >&2; printf last-\(index)"),
                        timeout: .seconds(60)
                    )
                }
            }
            var seen = 0
            for try await completed in group {
                let index = try #require(completed.standardOutput.first?.dropFirst("first-".count))
                #expect(completed.standardOutput == ["first-\(index)", "last-\(index)"])
                #expect(completed.standardError == ["err"])
                #expect(completed.termination.isSuccess)
                seen += 1
            }
            #expect(seen == 100)
        }
    }

    @Test("The environment is inherited, with variables added and removed")
    func environmentMerging() async throws {
        let inherited = try #require(
            ProcessInfo.processInfo.environment.first { $0.key != "PATH" && !$0.value.contains("\n") }
        )
        let completed = try await ChildProcess.run(
            .init(
                executable: "/usr/bin/env",
                environment: ["CHILD_ONLY": "set by the parent"],
                removingEnvironment: ["PATH"]
            ),
            timeout: .seconds(30)
        )
        #expect(completed.standardOutput.contains("CHILD_ONLY=set by the parent"))
        #expect(completed.standardOutput.contains("\(inherited.key)=\(inherited.value)"))
        #expect(!completed.standardOutput.contains { $0.hasPrefix("PATH=") })
    }

    @Test("A prompt without a newline is visible while the child waits for the answer")
    func promptWithoutNewline() async throws {
        let child = try await ChildProcess.start(
            Self.shell("printf 'Continue? [y/N] '; read answer; echo \"answer: $answer\"", input: .writer)
        )
        _ = try await waitUntil(timeout: .seconds(10)) { child.text().hasSuffix("[y/N] ") }
        #expect(child.text() == "Continue? [y/N] ")
        #expect(child.lines().isEmpty)
        child.write("y\n")
        #expect(try await child.wait(timeout: .seconds(10)) == .exited(0))
        #expect(child.lines() == ["Continue? [y/N] answer: y"])
    }

    @Test("Standard input is written in order and closed on request")
    func standardInputWriter() async throws {
        let cat = try await ChildProcess.start(.init(executable: "cat", standardInput: .writer))
        cat.write("hello\n")
        try await cat.waitForLine(timeout: .seconds(10)) { $0 == "hello" }
        #expect(cat.isRunning)
        cat.write("wor")
        cat.write("ld")
        cat.closeInput()
        #expect(try await cat.wait(timeout: .seconds(10)) == .exited(0))
        #expect(cat.lines() == ["hello", "world"])
    }

    @Test("A signal reaches the child's handler: SIGINT as the demo forwards Ctrl-C")
    func signalReachesHandler() async throws {
        let child = try await ChildProcess.start(
            Self.shell("trap 'echo got INT; exit 5' INT; echo ready; while :; do sleep 0.05; done")
        )
        try await child.waitForLine(timeout: .seconds(10)) { $0 == "ready" }
        #expect(child.send(SIGINT))
        #expect(try await child.wait(timeout: .seconds(10)) == .exited(5))
        #expect(child.lines() == ["ready", "got INT"])
    }

    @Test("A child that ignores SIGTERM is killed once the grace period is over")
    func terminateEscalatesToKill() async throws {
        let child = try await ChildProcess.start(
            Self.shell("trap '' TERM; echo ready; read never", input: .writer)
        )
        try await child.waitForLine(timeout: .seconds(10)) { $0 == "ready" }
        let started = ContinuousClock.now
        let termination = await child.terminate(grace: .milliseconds(300))
        #expect(termination == .signaled(SIGKILL))
        #expect(ContinuousClock.now - started >= .milliseconds(300))
        #expect(!child.isRunning)
    }

    @Test("A timeout kills the child and says so")
    func timeoutKills() async throws {
        let started = ContinuousClock.now
        do {
            _ = try await ChildProcess.run(Self.shell("echo started; exec sleep 30"), timeout: .milliseconds(300))
            Issue.record("a 30 s child finished within a 300 ms timeout")
        } catch {
            #expect(error.kind == .timedOut)
            #expect(error.description == "sh -c did not exit within 0.3 seconds and was killed")
        }
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    @Test("A child that closed its output is still killed")
    func killAfterOutputClosed() async throws {
        let child = try await ChildProcess.start(Self.shell("echo bye; exec sleep 30 >&- 2>&-"))
        try await child.waitForLine(timeout: .seconds(10)) { $0 == "bye" }
        child.kill()
        #expect(try await child.wait(timeout: .seconds(10)) == .signaled(SIGKILL))
    }

    @Test("A child that closed its output is signalled until it exits, and never after")
    func signalAfterOutputClosed() async throws {
        let child = try await ChildProcess.start(
            Self.shell("trap 'exit 7' TERM; echo ready; exec >&- 2>&-; while :; do sleep 0.05; done")
        )
        try await child.waitForLine(timeout: .seconds(10)) { $0 == "ready" }
        let outputEnded = await child.monitor.wait(timeout: .seconds(10)) { $0.isOutputEnded ? true : nil }
        guard case .value = outputEnded else {
            Issue.record("the child's output did not end")
            return
        }
        #expect(child.isRunning)
        #expect(child.send(SIGTERM))
        #expect(try await child.wait(timeout: .seconds(10)) == .exited(7))
        #expect(!child.send(SIGTERM))
    }

    @Test("Waiting for a line that never comes fails when the child ends")
    func lineNeverWritten() async throws {
        let child = try await ChildProcess.start(Self.shell("echo something else"))
        do {
            try await child.waitForLine(timeout: .seconds(30)) { $0 == "ready" }
            Issue.record("found a line that was never written")
        } catch {
            #expect(error.kind == .endedEarly)
            #expect(error.description == "sh -c ended (exit code 0) before writing the line awaited")
        }
    }

    @Test("An executable that does not exist is not started")
    func launchFailure() async throws {
        do {
            _ = try await ChildProcess.start(.init(executable: "/nonexistent/refresher"))
            Issue.record("started a nonexistent executable")
        } catch {
            #expect(error.kind == .launchFailed)
        }
    }

    @Test("Forwarded and discarded output is not collected")
    func forwardedAndDiscarded() async throws {
        var configuration = Self.shell("echo to-stdout; echo to-stderr >&2")
        configuration.standardOutput = .discard
        configuration.standardError = .forward
        let completed = try await ChildProcess.run(configuration, timeout: .seconds(30))
        #expect(completed.termination.isSuccess)
        #expect(completed.standardOutput.isEmpty && completed.standardError.isEmpty)
    }

    @Test("A handle that goes away kills its child")
    func handleGoingAwayKills() async throws {
        var child: ChildProcess? = try await ChildProcess.start(Self.shell("exec sleep 30"))
        let pid = try #require(child?.processIdentifier)
        #expect(kill(pid, 0) == 0)
        child = nil
        // Reaped by the handle's task after SIGKILL: the pid no longer exists.
        let deadline = ContinuousClock.now.advanced(by: .seconds(10))
        while kill(pid, 0) == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(kill(pid, 0) == -1 && errno == ESRCH)
    }
}
