import RedisClient

extension RedisNodeProcess {
    /// Sends one command on the node's ``connection()`` and returns its reply; an error reply throws.
    @discardableResult
    public func send(_ command: RedisCommand) async throws -> RedisValue {
        try await connection().send(command)
    }

    /// Sends one command given as arguments, e.g. `send("SET", "key", "value")`.
    @discardableResult
    public func send(_ arguments: RedisArgument...) async throws -> RedisValue {
        try await send(RedisCommand(arguments))
    }

    /// What the node answers to `ROLE`.
    public func role() async throws -> NodeRole {
        try NodeRole(reply: try await send("ROLE"))
    }
}
