/// Finds the primary through the sentinels, on a connection's own I/O thread (it blocks that thread, never the
/// cooperative pool), within the connect timeout.
///
/// The sentinels are asked in turn, starting with the one that answered last; each (with the primary it names) gets
/// an equal share of the time left, so one that does not answer, or names a primary that does not, cannot use it
/// all. The address a sentinel names is connected to and checked with `ROLE`: a sentinel that has not yet seen a
/// failover may name the old primary.
struct SentinelDiscovery {
    typealias Node = RedisConfiguration.Sentinel.Node

    let configuration: RedisConfiguration
    let sentinel: RedisConfiguration.Sentinel
    /// The index of the sentinel that answered last.
    private var preferred = 0

    init(configuration: RedisConfiguration, sentinel: RedisConfiguration.Sentinel) {
        self.configuration = configuration
        self.sentinel = sentinel
    }

    /// A connection to the primary, verified with `ROLE`, and its address. `hint` (where the sentinels announced the
    /// primary moved) is tried first.
    mutating func connectToPrimary(tls: TLSClientContext?, hint: Node? = nil) throws(RedisError) -> (RedisWire, Node) {
        let deadline = ContinuousClock.now.advanced(by: configuration.connectTimeout)
        var problems: [String] = []
        if let hint {
            do {
                let wire = try RedisWire(
                    configuration: configuration.node(host: hint.host, port: hint.port),
                    tls: tls,
                    until: Self.share(of: deadline, among: sentinel.nodes.count + 1),
                    requirePrimary: true
                )
                return (wire, hint)
            } catch {
                if error.code == .authenticationFailed || error.code == .tlsFailed { throw error }
                problems.append("announced primary \(hint.description): \(error.message)")
            }
        }
        // How many sentinels answered, and how many of them do not know the name or refused the credentials.
        var answered = 0
        var unknownName = 0
        var refused = 0
        for (turn, index) in order.enumerated() {
            let node = sentinel.nodes[index]
            let share = Self.share(of: deadline, among: sentinel.nodes.count - turn)
            let reply: RedisValue
            do {
                let wire = try RedisWire(
                    configuration: sentinel.configuration(for: node, base: configuration),
                    tls: tls,
                    until: share
                )
                reply = try wire.roundTrip(
                    [RedisCommand("SENTINEL", "GET-MASTER-ADDR-BY-NAME", RedisArgument(sentinel.primaryName))],
                    until: share
                )[0]
            } catch {
                if error.code == .authenticationFailed {
                    answered += 1
                    refused += 1
                }
                problems.append("sentinel \(node.description): \(error.message)")
                continue
            }
            answered += 1
            guard let parts = reply.array, parts.count == 2, let host = parts[0].string,
                let port = parts[1].string.flatMap({ Int($0) })
            else {
                if case .error(let message) = reply {
                    if message.hasPrefix("NOAUTH") || message.hasPrefix("NOPERM") || message.hasPrefix("WRONGPASS") {
                        refused += 1
                    }
                    problems.append("sentinel \(node.description): \(message)")
                } else {
                    unknownName += 1
                    problems.append("sentinel \(node.description) knows no primary named '\(sentinel.primaryName)'")
                }
                continue
            }
            let primary = Node(host: host, port: port)
            do {
                let wire = try RedisWire(
                    configuration: configuration.node(host: host, port: port),
                    tls: tls,
                    until: share,
                    requirePrimary: true
                )
                preferred = index
                return (wire, primary)
            } catch {
                // Credentials the primary refuses are refused by every primary: no sentinel can help.
                if error.code == .authenticationFailed || error.code == .tlsFailed { throw error }
                problems.append(
                    "primary \(primary.description) named by sentinel \(node.description): \(error.message)"
                )
            }
        }
        // Every sentinel answered, and none knows the name or all refused the credentials: a configuration mistake,
        // not an outage (retrying does not help). With one sentinel silent, it may be one that just restarted.
        let everyone = answered == sentinel.nodes.count
        let code: RedisError.Code =
            everyone && unknownName == answered
            ? .invalidConfiguration
            : everyone && refused == answered ? .authenticationFailed : .connectionFailed
        throw RedisError(
            code,
            "no sentinel named a reachable primary '\(sentinel.primaryName)': " + problems.joined(separator: "; ")
        )
    }

    /// A connection to any sentinel that answers (for watching `+switch-master`).
    mutating func connectToSentinel(tls: TLSClientContext?) throws(RedisError) -> RedisWire {
        let deadline = ContinuousClock.now.advanced(by: configuration.connectTimeout)
        var problems: [String] = []
        for (turn, index) in order.enumerated() {
            let node = sentinel.nodes[index]
            do {
                let wire = try RedisWire(
                    configuration: sentinel.configuration(for: node, base: configuration),
                    tls: tls,
                    until: Self.share(of: deadline, among: sentinel.nodes.count - turn)
                )
                preferred = index
                return wire
            } catch {
                problems.append("sentinel \(node.description): \(error.message)")
            }
        }
        throw RedisError(.connectionFailed, "no sentinel answered: " + problems.joined(separator: "; "))
    }

    /// The sentinels' indices, the preferred one first.
    private var order: [Int] {
        let count = sentinel.nodes.count
        return (0..<count).map { (preferred + $0) % count }
    }

    /// The instant by which one of `remaining` attempts must be done, sharing the time left to `deadline` equally.
    private static func share(of deadline: ContinuousClock.Instant, among remaining: Int) -> ContinuousClock.Instant {
        let left = ContinuousClock.now.duration(to: deadline)
        return left <= .zero ? deadline : ContinuousClock.now.advanced(by: left / max(remaining, 1))
    }
}
