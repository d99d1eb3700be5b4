import ArgumentParser

/// How the fleet coordinates in one storm.
enum StormMode: String, CaseIterable, Codable, Sendable, ExpressibleByArgument {
    /// The product: lock + pub/sub wake-up (polling only as a fallback).
    case pubsub
    /// The same lock with only the 1 s polling wake-up: the browser module's behaviour.
    case poll
    /// No coordination: every task refreshes on its own.
    case none

    /// What the worker processes are told.
    var environment: [String: String] {
        switch self {
        case .pubsub:
            [
                WorkerCommand.coordinationVariable: Coordination.redis.rawValue,
                WorkerCommand.wakeVariable: WakeMode.pubsub.rawValue,
            ]
        case .poll:
            [
                WorkerCommand.coordinationVariable: Coordination.redis.rawValue,
                WorkerCommand.wakeVariable: WakeMode.poll.rawValue,
            ]
        case .none: [WorkerCommand.coordinationVariable: Coordination.none.rawValue]
        }
    }
}

extension StormMode {
    /// Parses a comma-separated list such as `pubsub,none`.
    static func list(_ text: String) throws -> [StormMode] {
        try text.split(separator: ",").map { name in
            guard let mode = StormMode(argument: String(name)) else {
                throw ValidationError("unknown mode '\(name)': use \(allValueStrings.joined(separator: ", "))")
            }
            return mode
        }
    }
}
