import RedisClient

extension SentinelTopology {
    /// The configuration lines of one sentinel: the primary to monitor with the topology's timeouts and passwords,
    /// and, as a sentinel records them itself once it has met them, the replicas and the other sentinels, so that it
    /// need not wait for their hello messages (every 2 s) to learn of them.
    static func sentinelConfiguration(
        _ options: Options,
        id: String,
        primaryPort: Int,
        replicaPorts: [Int],
        otherSentinels: [(port: Int, id: String)]
    ) -> [String] {
        let name = RedisNodeProcess.quoted(options.primaryName)
        var lines = [
            "sentinel myid \(id)",
            "sentinel monitor \(name) 127.0.0.1 \(primaryPort) \(options.sentinels / 2 + 1)",
            "sentinel down-after-milliseconds \(name) \(SentinelPeriods.milliseconds(options.downAfter))",
            "sentinel failover-timeout \(name) \(SentinelPeriods.milliseconds(options.failoverTimeout))",
            "sentinel parallel-syncs \(name) \(options.parallelSyncs)",
        ]
        if let password = options.password {
            lines.append("sentinel auth-pass \(name) \(RedisNodeProcess.quoted(password))")
        }
        if let password = options.sentinelPassword {
            lines.append("sentinel sentinel-pass \(RedisNodeProcess.quoted(password))")
        }
        lines += replicaPorts.map { "sentinel known-replica \(name) 127.0.0.1 \($0)" }
        lines += otherSentinels.map { "sentinel known-sentinel \(name) 127.0.0.1 \($0.port) \($0.id)" }
        return lines
    }

    /// Starts the sentinel and sets its periods (see ``SentinelPeriods``).
    func startSentinel(_ sentinel: RedisNodeProcess, timeout: Duration) async throws {
        try await sentinel.start(timeout: timeout)
        guard let arguments = options.periods.debugArguments else { return }
        try await sentinel.send(RedisCommand((["SENTINEL", "DEBUG"] + arguments).map { RedisArgument($0) }))
    }

    /// A sentinel's run ID: 40 hexadecimal digits.
    static func randomSentinelID() -> String {
        String((0..<40).map { _ in "0123456789abcdef".randomElement()! })
    }

}
