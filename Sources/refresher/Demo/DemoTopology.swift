import ArgumentParser

/// What Redis the demo's fleet runs on.
enum DemoTopology: String, CaseIterable, Codable, Sendable, ExpressibleByArgument {
    /// One Redis: the given one, the local one, or an embedded throwaway server.
    case single
    /// An embedded Redis Sentinel topology on loopback (1 primary, 2 replicas, 3 sentinels), reached through its
    /// `redis-sentinel://` URL, failed over during the run.
    case sentinel
    /// An embedded Redis Cluster on loopback (3 primaries, with replicas when the machine allows), reached through
    /// its `redis-cluster://` URL, serving several sessions spread over its shards.
    case cluster
}
