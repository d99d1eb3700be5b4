import ArgumentParser
import RedisRefresher

/// How a worker's waiting tasks learn that another worker's refresh is done.
enum WakeMode: String, CaseIterable, Codable, Sendable, ExpressibleByArgument {
    /// The events channel wakes them, the polling as a fallback.
    case pubsub
    /// Only the 1 s polling.
    case poll

    /// The library's setting.
    var wakeUp: RefresherConfiguration.WakeUp {
        switch self {
        case .pubsub: .pubSub
        case .poll: .pollingOnly
        }
    }
}
