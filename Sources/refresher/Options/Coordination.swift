import ArgumentParser

/// How a worker's tasks get fresh credentials after a 401.
enum Coordination: String, CaseIterable, Codable, Sendable, ExpressibleByArgument {
    /// Through the library: one refresh per expiry across the fleet, coordinated by Redis.
    case redis
    /// Every task presents the refresh token it holds: the logout storm the library prevents.
    case none
}
