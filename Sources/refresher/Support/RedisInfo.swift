import RedisClient
import RedisRefresher

/// The fields of one reply to Redis `INFO` (or `CLUSTER INFO`): `name:value` lines under `# Section` headers.
struct RedisInfo: Sendable {
    /// Every field of the reply by name.
    let fields: [String: String]

    /// Parses the text of an `INFO` reply; comment lines, blank lines and lines without a colon are skipped.
    init(parsing text: String) {
        var fields: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) where !line.hasPrefix("#") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = String(line[line.index(after: colon)...])
        }
        self.fields = fields
    }

    /// `INFO section` from `connection`; on a cluster, from `node` when given (else from any primary).
    static func fetch(
        _ section: String,
        from connection: RedisConnection,
        node: RedisConfiguration.Cluster.Node? = nil
    ) async throws -> RedisInfo {
        RedisInfo(
            parsing: try await connection.send(RedisCommand("INFO", RedisArgument(section)), to: node).string ?? ""
        )
    }

    subscript(name: String) -> String? { fields[name] }

    /// The field as an integer, if it is one.
    func int(_ name: String) -> Int? { fields[name].flatMap { Int($0) } }

    /// The field as a number, if it is one.
    func double(_ name: String) -> Double? { fields[name].flatMap { Double($0) } }
}
