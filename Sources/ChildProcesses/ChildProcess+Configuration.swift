extension ChildProcess {
    /// What to start and how to connect its standard streams.
    public struct Configuration: Sendable {
        /// An absolute path, or a name looked up on `PATH`.
        public var executable: String
        public var arguments: [String]
        /// Variables set in the child on top of this process's environment.
        public var environment: [String: String]
        /// Variables of this process's environment that the child does not inherit.
        public var removingEnvironment: [String]
        public var workingDirectory: String?
        public var standardInput: Input
        public var standardOutput: Output
        public var standardError: Output
        /// Where ``Output/forward`` copies standard output: this process's standard output (tests use a pipe).
        var standardOutputForwarder = OutputForwarder.standardOutput
        /// Where ``Output/forward`` copies standard error: this process's standard error.
        var standardErrorForwarder = OutputForwarder.standardError

        public init(
            executable: String,
            arguments: [String] = [],
            environment: [String: String] = [:],
            removingEnvironment: [String] = [],
            workingDirectory: String? = nil,
            standardInput: Input = .none,
            standardOutput: Output = .collect,
            standardError: Output = .collect
        ) {
            self.executable = executable
            self.arguments = arguments
            self.environment = environment
            self.removingEnvironment = removingEnvironment
            self.workingDirectory = workingDirectory
            self.standardInput = standardInput
            self.standardOutput = standardOutput
            self.standardError = standardError
        }

        /// The executable's name and first argument (a subcommand, usually): enough to say which child failed,
        /// never an argument or variable that may carry a secret.
        public var shortDescription: String {
            let name = executable.split(separator: "/").last.map(String.init) ?? executable
            return ([name] + arguments.prefix(1)).joined(separator: " ")
        }
    }

    /// The child's standard input.
    public enum Input: Sendable {
        /// End of file from the start.
        case none
        /// This text, then end of file.
        case text(String)
        /// Whatever ``ChildProcess/write(_:)`` sends, until ``ChildProcess/closeInput()``.
        case writer
    }

    /// What happens to the lines of one of the child's output streams.
    public enum Output: Sendable {
        /// Kept: read them with ``ChildProcess/lines(of:)`` or wait for one with
        /// ``ChildProcess/waitForLine(on:timeout:where:)``.
        case collect
        /// Read and dropped, so that the child never blocks on a full pipe.
        case discard
        /// Copied to this process's stream of the same kind (stdout or stderr) as it is read: in chunks, each written
        /// whole, so that forwarded output of several children interleaves chunk by chunk, not byte by byte.
        case forward
    }

    /// One of the child's output streams.
    public enum Stream: Sendable, Hashable {
        case standardOutput
        case standardError
    }
}
