import RedisClient
import RedisRefresher

extension RedisConnection {
    /// Sends `command` to `node` of a cluster as it is (``send(_:onNode:)``), or routes it as usual when `node` is
    /// `nil`: for the operator commands' questions about one node (`INFO`, `CLIENT INFO`, `CLUSTER INFO`).
    func send(_ command: RedisCommand, to node: RedisConfiguration.Cluster.Node?) async throws(RedisError) -> RedisValue
    {
        guard let node else { return try await send(command) }
        return try await send(command, onNode: node)
    }
}
