#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension ChildProcess {
    /// Waits for the child to exit and its output to be read to the end. A child still running after `timeout` is
    /// killed, and the error says so.
    @discardableResult
    public func wait(timeout: Duration) async throws(ChildProcessError) -> Termination {
        switch await monitor.wait(timeout: timeout, until: Self.ending) {
        case .value(let ending): return try ending.get()
        case .finished, .timedOut:
            kill()
            _ = await monitor.wait(timeout: .seconds(10), until: Self.ending)
            throw ChildProcessError(.timedOut, "\(name) did not exit within \(timeout) and was killed")
        }
    }

    /// Asks the child to stop (`SIGTERM`), kills it (`SIGKILL`) if it is still running after `grace`, and waits for
    /// it to end. `nil` if it could not be waited for.
    @discardableResult
    public func terminate(grace: Duration = .seconds(5)) async -> Termination? {
        send(SIGTERM)
        if case .value(let ending) = await monitor.wait(timeout: grace, until: Self.ending) {
            return try? ending.get()
        }
        kill()
        guard case .value(let ending) = await monitor.wait(timeout: .seconds(10), until: Self.ending) else {
            return nil
        }
        return try? ending.get()
    }

    /// Waits for the first line on `stream` (a collected one) that `matches`, including lines written before the
    /// call. Throws if the child ends without one, or after `timeout` (the child keeps running then).
    @discardableResult
    public func waitForLine(
        on stream: Stream = .standardOutput,
        timeout: Duration,
        where matches: @escaping @Sendable (String) -> Bool
    ) async throws(ChildProcessError) -> String {
        let found = await monitor.wait(timeout: timeout) { state in
            state.lines(of: stream).first(where: matches)
        }
        switch found {
        case .value(let line): return line
        case .finished:
            let ending = termination.map { " (\($0))" } ?? ""
            throw ChildProcessError(.endedEarly, "\(name) ended\(ending) before writing the line awaited")
        case .timedOut:
            throw ChildProcessError(.timedOut, "\(name) did not write the line awaited within \(timeout)")
        }
    }

    private static let ending: @Sendable (ChildProcessState) -> Result<Termination, ChildProcessError>? = { state in
        state.termination.map { .success($0) } ?? state.failure.map { .failure($0) }
    }
}
