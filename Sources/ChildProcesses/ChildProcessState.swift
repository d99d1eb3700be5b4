/// What one child has done so far: its output lines, whether it is running, how it ended, and who is waiting for a
/// change. Mutated under ``ChildProcessMonitor``'s lock; every mutation returns the ``Wakeup`` to run after it.
struct ChildProcessState: Sendable {
    private var standardOutput = OutputLines()
    private var standardError = OutputLines()
    private(set) var processIdentifier: Int32?
    private(set) var termination: ChildProcess.Termination?
    private(set) var failure: ChildProcessError?
    private var watchers: [Int: AsyncStream<Void>.Continuation] = [:]
    private var nextWatcher = 0

    /// Exited (or never started) and its output read to the end.
    var isFinished: Bool { termination != nil || failure != nil }

    /// Both output streams have ended; the child may still be running (`exec >&- 2>&-`).
    var isOutputEnded: Bool { standardOutput.isEnded && standardError.isEnded }

    func lines(of stream: ChildProcess.Stream) -> [String] {
        output(stream).lines
    }

    /// See ``OutputLines/firstLine(from:where:)``.
    func firstLine(of stream: ChildProcess.Stream, from index: inout Int, where matches: (String) -> Bool) -> String? {
        output(stream).firstLine(from: &index, where: matches)
    }

    func text(of stream: ChildProcess.Stream) -> String {
        output(stream).text
    }

    private func output(_ stream: ChildProcess.Stream) -> OutputLines {
        stream == .standardOutput ? standardOutput : standardError
    }

    /// The watchers to tell about a change, and whether that change was the last one.
    struct Wakeup {
        fileprivate var watchers: [AsyncStream<Void>.Continuation] = []
        fileprivate var isFinal = false

        func run() {
            for watcher in watchers {
                watcher.yield()
                if isFinal { watcher.finish() }
            }
        }
    }

    mutating func started(processIdentifier: Int32) -> Wakeup {
        self.processIdentifier = processIdentifier
        return wakeup()
    }

    /// Output bytes; watchers are woken for every chunk, so that they also see a prompt without a newline.
    mutating func append(_ bytes: some Collection<UInt8>, to stream: ChildProcess.Stream) -> Wakeup {
        switch stream {
        case .standardOutput: _ = standardOutput.append(bytes)
        case .standardError: _ = standardError.append(bytes)
        }
        return wakeup()
    }

    /// The end of one output stream.
    mutating func endOutput(_ stream: ChildProcess.Stream) -> Wakeup {
        switch stream {
        case .standardOutput: standardOutput.finish()
        case .standardError: standardError.finish()
        }
        return wakeup()
    }

    mutating func finish(_ termination: ChildProcess.Termination) -> Wakeup {
        guard !isFinished else { return Wakeup() }
        self.termination = termination
        return finalWakeup()
    }

    mutating func fail(_ failure: ChildProcessError) -> Wakeup {
        guard !isFinished else { return Wakeup() }
        self.failure = failure
        return finalWakeup()
    }

    /// Registers a watcher; its first wake-up is immediate, so that it checks the state as it is now.
    mutating func watch(_ watcher: AsyncStream<Void>.Continuation) -> (id: Int, wakeup: Wakeup) {
        let id = nextWatcher
        nextWatcher += 1
        if !isFinished { watchers[id] = watcher }
        return (id, Wakeup(watchers: [watcher], isFinal: isFinished))
    }

    mutating func unwatch(_ id: Int) {
        watchers[id] = nil
    }

    private func wakeup() -> Wakeup {
        Wakeup(watchers: Array(watchers.values))
    }

    private mutating func finalWakeup() -> Wakeup {
        defer { watchers = [:] }
        return Wakeup(watchers: Array(watchers.values), isFinal: true)
    }
}
