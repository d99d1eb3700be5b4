/// A Lua script, run by `EVALSHA` with a fallback to `EVAL` when the server does not know it (`NOSCRIPT` after a
/// restart or `SCRIPT FLUSH`); `EVAL` also caches it, so the next run is an `EVALSHA` again.
public struct RedisScript: Sendable, Hashable {
    /// The Lua source.
    public let source: String
    /// The hex SHA-1 of the source, as Redis names scripts.
    public let sha1: String

    /// A script from its source; the SHA-1 is computed once, here.
    public init(_ source: String) {
        self.source = source
        self.sha1 = SHA1.hexDigest(source.utf8)
    }
}

extension RedisConnection {
    /// Runs `script` with `keys` and `arguments`: `EVALSHA` first, `EVAL` on `NOSCRIPT`.
    public func run(
        _ script: RedisScript,
        keys: [RedisArgument] = [],
        arguments: [RedisArgument] = []
    ) async throws(RedisError) -> RedisValue {
        do {
            return try await send(Self.scriptCommand("EVALSHA", script.sha1, keys: keys, arguments: arguments))
        } catch  where error.code == .server && error.serverErrorPrefix == "NOSCRIPT" {
            return try await send(Self.scriptCommand("EVAL", script.source, keys: keys, arguments: arguments))
        }
    }

    /// Runs a script and then `commands` in one write on this connection (one round trip), e.g. `WAIT` for the
    /// script's writes to reach replicas. Returns the script's reply and the others'; a script missing from the
    /// server's cache (`NOSCRIPT`: it did not run) is sent again with `EVAL`, with `commands` after it again.
    public func run(
        _ script: RedisScript,
        keys: [RedisArgument] = [],
        arguments: [RedisArgument] = [],
        followedBy commands: [RedisCommand]
    ) async throws(RedisError) -> (RedisValue, [Result<RedisValue, RedisError>]) {
        var replies = try await pipeline(
            [Self.scriptCommand("EVALSHA", script.sha1, keys: keys, arguments: arguments)] + commands
        )
        if case .failure(let error) = replies[0], error.code == .server, error.serverErrorPrefix == "NOSCRIPT" {
            replies = try await pipeline(
                [Self.scriptCommand("EVAL", script.source, keys: keys, arguments: arguments)] + commands
            )
        }
        return (try replies[0].get(), Array(replies.dropFirst()))
    }

    /// Loads scripts into the server's cache with `SCRIPT LOAD` (optional: ``run(_:keys:arguments:)`` loads on
    /// demand); one round trip for all of them, on every primary of a cluster.
    public func load(_ scripts: [RedisScript]) async throws(RedisError) {
        let commands = scripts.map { RedisCommand("SCRIPT", "LOAD", RedisArgument($0.source)) }
        let nodes = try await clusterSlotMap()?.primaries
        var loaded = false
        var unreachable: RedisError?
        for node in nodes ?? [] {
            // A primary that cannot be reached now gets the scripts on demand (`NOSCRIPT` → `EVAL`): it must not keep
            // sessions on the other shards from starting.
            do {
                for reply in try await pipeline(commands, onNode: node) { _ = try reply.get() }
                loaded = true
            } catch  where error.isConnectionError {
                unreachable = error
            }
        }
        if let unreachable, !loaded { throw unreachable }
        guard nodes == nil else { return }
        for reply in try await pipeline(commands) { _ = try reply.get() }
    }

    private static func scriptCommand(
        _ verb: String,
        _ body: String,
        keys: [RedisArgument],
        arguments: [RedisArgument]
    ) -> RedisCommand {
        var command = RedisCommand(RedisArgument(verb), RedisArgument(body), RedisArgument(keys.count))
        for key in keys { command.append(key) }
        for argument in arguments { command.append(argument) }
        return command
    }
}
