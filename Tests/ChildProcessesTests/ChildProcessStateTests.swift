import Testing

@testable import ChildProcesses

/// The bookkeeping behind waiting, without a process.
@Suite("ChildProcessState")
struct ChildProcessStateTests {
    @Test("Output is split into lines across chunks; the text keeps every byte")
    func outputLines() {
        var output = OutputLines()
        let completedNone = output.append(Array("fir".utf8))
        #expect(!completedNone)
        #expect(output.text == "fir")
        let completedSome = output.append(Array("st\nsecond\n\nthi".utf8))
        #expect(completedSome)
        #expect(output.lines == ["first", "second", ""])
        output.finish()
        #expect(output.lines == ["first", "second", "", "thi"])
        #expect(output.text == "first\nsecond\n\nthi")
    }

    @Test("A stream that ends with a newline has no extra line")
    func terminatedOutput() {
        var output = OutputLines()
        _ = output.append(Array("only\n".utf8))
        output.finish()
        #expect(output.lines == ["only"])
        #expect(output.text == "only\n")
    }

    @Test("A search from an index checks each line once and moves the index past the lines checked")
    func firstLineFromIndex() {
        var output = OutputLines()
        _ = output.append(Array("a\nb\n".utf8))
        var index = 0
        var checked: [String] = []
        #expect(
            output.firstLine(from: &index) {
                checked.append($0)
                return $0 == "c"
            } == nil
        )
        #expect(index == 2)
        _ = output.append(Array("c\nd\n".utf8))
        #expect(
            output.firstLine(from: &index) {
                checked.append($0)
                return $0 == "c"
            } == "c"
        )
        #expect(index == 3)
        #expect(checked == ["a", "b", "c"])
        #expect(!output.isEnded)
        output.finish()
        #expect(output.isEnded)
    }

    @Test("A watcher checks once on registration, then on every line, and is finished with the child")
    func watcherWakeups() async {
        var state = ChildProcessState()
        let (changes, continuation) = AsyncStream.makeStream(of: Void.self)
        let (_, registered) = state.watch(continuation)
        registered.run()
        state.append(Array("one\n".utf8), to: .standardOutput).run()
        state.append(Array("two\n".utf8), to: .standardError).run()
        state.finish(.exited(0)).run()
        var wakeups = 0
        for await _ in changes { wakeups += 1 }
        #expect(wakeups == 4)
        #expect(state.lines(of: .standardOutput) == ["one"])
        #expect(state.lines(of: .standardError) == ["two"])
        #expect(state.isFinished)
    }

    @Test("A watcher that comes after the end is woken once and finished")
    func lateWatcher() async {
        var state = ChildProcessState()
        state.fail(ChildProcessError(.launchFailed, "not started")).run()
        state.finish(.exited(0)).run()
        #expect(state.termination == nil)
        let (changes, continuation) = AsyncStream.makeStream(of: Void.self)
        state.watch(continuation).wakeup.run()
        var wakeups = 0
        for await _ in changes { wakeups += 1 }
        #expect(wakeups == 1)
    }

    @Test("An unwatched watcher is not woken")
    func unwatched() async {
        var state = ChildProcessState()
        let (changes, continuation) = AsyncStream.makeStream(of: Void.self)
        let (id, _) = state.watch(continuation)
        state.unwatch(id)
        state.append(Array("ignored\n".utf8), to: .standardOutput).run()
        continuation.finish()
        var wakeups = 0
        for await _ in changes { wakeups += 1 }
        #expect(wakeups == 0)
    }
}
