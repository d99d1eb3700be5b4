/// Why a child could not be started or waited for.
public struct ChildProcessError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The executable could not be started.
        case launchFailed
        /// The child did not finish in time and was killed.
        case timedOut
        /// The child ended before the awaited line appeared.
        case endedEarly
        /// Reading its output failed.
        case outputFailed
        /// The calling task was cancelled while it waited; the child was left as it was.
        case cancelled
    }

    public let kind: Kind
    public let description: String

    init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }
}
