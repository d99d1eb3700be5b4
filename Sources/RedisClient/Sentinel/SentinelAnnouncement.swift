/// What the sentinels announce on their pub/sub channels, as far as following a primary needs it.
package enum SentinelAnnouncement {
    /// The new primary of `name` in an announcement: `+switch-master <name> <old-ip> <old-port> <new-ip>
    /// <new-port>`, or `+promoted-slave slave <ip:port> <ip> <port> @ <name> <old-ip> <old-port>`.
    package static func newPrimary(
        announcedOn channel: String,
        in payload: [UInt8],
        named name: String
    ) -> RedisConfiguration.Sentinel.Node? {
        let fields = String(decoding: payload, as: UTF8.self).split(separator: " ")
        switch channel {
        case "+switch-master":
            guard fields.count == 5, fields[0] == name, let port = Int(fields[4]) else { return nil }
            return .init(host: String(fields[3]), port: port)
        case "+promoted-slave":
            guard fields.count == 8, fields[4] == "@", fields[5] == name, let port = Int(fields[3]) else { return nil }
            return .init(host: String(fields[2]), port: port)
        default:
            return nil
        }
    }
}
