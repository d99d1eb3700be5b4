extension ChildProcess {
    /// A child that has run to its end.
    public struct Completed: Sendable {
        public let termination: Termination
        /// Standard output's lines, without their newlines.
        public let standardOutput: [String]
        /// Standard error's lines, without their newlines.
        public let standardError: [String]
        /// Standard output as written.
        public let outputText: String
        /// Standard error as written.
        public let errorText: String
    }

    /// Runs a child to its end and returns what it wrote. A child still running after `timeout` is killed, and the
    /// error says so. If the calling task is cancelled, the error is ``ChildProcessError/Kind/cancelled`` and the
    /// child is killed, its handle going away.
    public static func run(
        _ configuration: Configuration,
        timeout: Duration
    ) async throws(ChildProcessError) -> Completed {
        let child = try await start(configuration)
        let termination = try await child.wait(timeout: timeout)
        return Completed(
            termination: termination,
            standardOutput: child.lines(of: .standardOutput),
            standardError: child.lines(of: .standardError),
            outputText: child.text(of: .standardOutput),
            errorText: child.text(of: .standardError)
        )
    }
}
