import Foundation
import Testing

@testable import ChildProcesses

#if canImport(Glibc)
import Glibc
#endif

/// How the child-process helper reads, forwards and searches a child's output.
@Suite("ChildProcess output")
struct ChildProcessOutputTests {
    @Test("A waiter checks each line once, however many chunks arrive")
    func waitForLineChecksEachLineOnce() async throws {
        // A hundred lines for every line of input, then "done" once the input is closed.
        let child = try await ChildProcess.start(
            ChildProcessTests.shell(
                "while read batch; do i=0; while [ $i -lt 100 ]; do echo \"$batch $i\"; i=$((i+1)); done; done; echo done",
                input: .writer
            )
        )
        let waiter = Task { () async throws -> (line: String, checks: Int) in
            var checks = 0
            let line = try await child.waitForLine(timeout: .seconds(30)) { line in
                checks += 1
                return line == "done"
            }
            return (line, checks)
        }
        // Thirty batches, each one after the previous one has been read: the waiter is woken many times.
        for batch in 1...30 {
            child.write("\(batch)\n")
            let read = try await waitUntil(timeout: .seconds(10)) { child.lines().count == batch * 100 }
            #expect(read)
        }
        child.closeInput()
        let found = try await waiter.value
        #expect(found.line == "done")
        #expect(found.checks == 3001)
        #expect(try await child.wait(timeout: .seconds(10)) == .exited(0))
    }

    @Test("Forwarded output arrives whole and in order")
    func forwardedOutputArrives() async throws {
        let (readEnd, writeEnd) = try Self.pipe()
        defer {
            close(readEnd)
            close(writeEnd)
        }
        var configuration = ChildProcessTests.shell("echo one; printf 'two\\nthree'; echo problem >&2")
        configuration.standardOutput = .forward
        configuration.standardOutputForwarder = OutputForwarder(descriptor: writeEnd)
        let completed = try await ChildProcess.run(configuration, timeout: .seconds(30))
        #expect(completed.termination.isSuccess)
        #expect(completed.standardOutput.isEmpty)
        #expect(completed.standardError == ["problem"])
        // Everything was written before the child finished, and fits in the pipe: this read does not block.
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = read(readEnd, &buffer, buffer.count)
        #expect(String(decoding: buffer.prefix(max(count, 0)), as: UTF8.self) == "one\ntwo\nthree")
    }

    @Test("Forwarding to a descriptor that takes nothing more blocks no thread of the cooperative pool")
    func stalledForwardingLeavesThePoolFree() async throws {
        // Writes to the pipe fail (EPIPE) rather than kill this process once its read end is closed.
        signal(SIGPIPE, SIG_IGN)
        let (readEnd, writeEnd) = try Self.pipe()
        var readEndOpen = true
        // Closing the read end unblocks the forwarder, however the test ends.
        defer {
            if readEndOpen { close(readEnd) }
            close(writeEnd)
        }
        let forwarder = OutputForwarder(descriptor: writeEnd)
        // More children than the cooperative pool has threads, each writing far more than the pipe holds.
        var children: [ChildProcess] = []
        for _ in 0..<(ProcessInfo.processInfo.activeProcessorCount + 2) {
            var configuration = ChildProcessTests.shell("yes forwarded | head -n 100000")
            configuration.standardOutput = .forward
            configuration.standardOutputForwarder = forwarder
            children.append(try await ChildProcess.start(configuration))
        }
        // Nobody reads the pipe: once it is full, forwarding blocks in write(2).
        let full = try await waitUntil(timeout: .seconds(10)) {
            var descriptor = pollfd(fd: writeEnd, events: Int16(POLLOUT), revents: 0)
            return poll(&descriptor, 1, 0) == 0
        }
        #expect(full)
        // Another child still runs to its end: the blocked writes hold no thread that tasks need.
        let probe = try await ChildProcess.run(ChildProcessTests.shell("echo alive"), timeout: .seconds(10))
        #expect(probe.standardOutput == ["alive"])
        #expect(children.allSatisfy { $0.isRunning })
        // The rest of the output is dropped (EPIPE), and the children finish.
        close(readEnd)
        readEndOpen = false
        for child in children {
            #expect(try await child.wait(timeout: .seconds(30)) == .exited(0))
        }
    }

    static func pipe() throws -> (readEnd: Int32, writeEnd: Int32) {
        var descriptors: [Int32] = [-1, -1]
        try #require(Glibc.pipe(&descriptors) == 0)
        return (descriptors[0], descriptors[1])
    }
}
