/// How often a sentinel pings, reads `INFO` from and says hello to the instances it watches: internal periods that
/// Redis 7 lets tests change with `SENTINEL DEBUG` (they are not configuration, and a restarted sentinel starts
/// with Redis's own again, so the topology sets them after every start).
///
/// Redis's own periods have two costs on a topology with a short `down-after-milliseconds`:
/// - a sentinel reconnects to an instance at most once per ping period, and after a failover it reconnects to the
///   new primary; with a 1 s ping period and a 1 s `downAfter`, its first `PONG` can arrive just after `downAfter`
///   has passed, and the sentinels, which still remember the old primary was down, fail over again at once;
/// - a node that reports itself primary while the sentinels know another one (an old primary resumed or
///   restarted, the old primary after `SENTINEL FAILOVER`) is demoted once it has reported so for 4 publish
///   periods, noticed at its next `INFO`, and the other sentinels see it as a replica at their next `INFO`:
///   about 20 s with Redis's periods before the topology is ready for another failover.
public struct SentinelPeriods: Sendable, Hashable, CustomStringConvertible {
    /// `PING-PERIOD`: how often an instance is pinged, and the least time between two reconnections to it.
    public var ping: Duration
    /// `INFO-PERIOD`: how often a replica's `INFO` is read (every second while a failover is in progress).
    public var info: Duration
    /// `PUBLISH-PERIOD`: how often a sentinel says hello (how sentinels find each other and spread a new
    /// configuration); a node that claims to be primary is demoted after 4 of them.
    public var publish: Duration

    public init(ping: Duration, info: Duration, publish: Duration) {
        self.ping = ping
        self.info = info
        self.publish = publish
    }

    /// Redis's own: ping 1 s, info 10 s, publish 2 s. A topology is ready again about 20 s after an old primary
    /// reappears; pair with a `downAfter` of 2 s or more (see above).
    public static let redisDefaults = SentinelPeriods(ping: .seconds(1), info: .seconds(10), publish: .seconds(2))

    /// For tests: ping 250 ms, info 1 s, publish 500 ms. A topology is ready again about 3 s after an old primary
    /// reappears, and a 1 s `downAfter` is safe.
    public static let fast = SentinelPeriods(
        ping: .milliseconds(250),
        info: .seconds(1),
        publish: .milliseconds(500)
    )

    public var description: String { "ping \(ping), info \(info), publish \(publish)" }

    /// The arguments of `SENTINEL DEBUG` that set them, or `nil` for Redis's own (nothing to set).
    var debugArguments: [String]? {
        guard self != .redisDefaults else { return nil }
        return [
            "PING-PERIOD", String(Self.milliseconds(ping)), "INFO-PERIOD", String(Self.milliseconds(info)),
            "PUBLISH-PERIOD", String(Self.milliseconds(publish)),
        ]
    }

    /// Whole milliseconds, at least 1.
    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return max(1, seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }
}
