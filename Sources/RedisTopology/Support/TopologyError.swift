/// A failure to start, reach or steer the processes of a topology. Messages name ports and roles, never a password.
public struct TopologyError: Error, Sendable, CustomStringConvertible {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}
