#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension ChildProcess {
    /// Waits for the child to exit and its output to be read to the end. A child still running after `timeout` is
    /// killed, and the error says so once it has been reaped.
    ///
    /// If the calling task is cancelled, throws a ``ChildProcessError/Kind/cancelled`` error at once and leaves the
    /// child running (a handle that goes away still kills its child).
    @discardableResult
    public func wait(timeout: Duration) async throws(ChildProcessError) -> Termination {
        switch await monitor.wait(timeout: timeout, until: Self.ending) {
        case .value(let ending): return try ending.get()
        case .cancelled: throw ChildProcessError(.cancelled, "waiting for \(name) was cancelled")
        case .finished, .timedOut:
            kill()
            _ = await waitIgnoringCancellation(timeout: .seconds(10))
            throw ChildProcessError(.timedOut, "\(name) did not exit within \(timeout) and was killed")
        }
    }

    /// Asks the child to stop (`SIGTERM`), kills it (`SIGKILL`) if it is still running after `grace`, and returns once
    /// it has been reaped, with its termination. `nil` if it could not be waited for (reading its output failed, or
    /// it had not ended 10 seconds after `SIGKILL`).
    ///
    /// The calling task's cancellation is ignored: a child given a grace period gets all of it, and is reaped before
    /// this returns.
    @discardableResult
    public func terminate(grace: Duration = .seconds(5)) async -> Termination? {
        send(SIGTERM)
        if let termination = await waitIgnoringCancellation(timeout: grace) { return termination }
        kill()
        return await waitIgnoringCancellation(timeout: .seconds(10))
    }

    /// Waits for the first line on `stream` (a collected one) that `matches`, including lines written before the
    /// call; each line is checked once. Throws if the child ends without one, after `timeout`, or if the calling task
    /// is cancelled (the child keeps running then).
    @discardableResult
    public func waitForLine(
        on stream: Stream = .standardOutput,
        timeout: Duration,
        where matches: (String) -> Bool
    ) async throws(ChildProcessError) -> String {
        var checked = 0
        let found = await monitor.wait(timeout: timeout) { state in
            state.firstLine(of: stream, from: &checked, where: matches)
        }
        switch found {
        case .value(let line): return line
        case .finished:
            let ending = termination.map { " (\($0))" } ?? ""
            throw ChildProcessError(.endedEarly, "\(name) ended\(ending) before writing the line awaited")
        case .timedOut:
            throw ChildProcessError(.timedOut, "\(name) did not write the line awaited within \(timeout)")
        case .cancelled:
            throw ChildProcessError(.cancelled, "waiting for a line from \(name) was cancelled")
        }
    }

    /// Waits up to `timeout` for the child to finish, in an unstructured task, which the caller's cancellation does
    /// not reach; its termination, `nil` if it failed or did not finish in time.
    private func waitIgnoringCancellation(timeout: Duration) async -> Termination? {
        let monitor = self.monitor
        return await Task {
            guard case .value(let ending) = await monitor.wait(timeout: timeout, until: Self.ending) else { return nil }
            return try? ending.get()
        }.value
    }

    private static let ending: @Sendable (ChildProcessState) -> Result<Termination, ChildProcessError>? = { state in
        state.termination.map { .success($0) } ?? state.failure.map { .failure($0) }
    }
}
