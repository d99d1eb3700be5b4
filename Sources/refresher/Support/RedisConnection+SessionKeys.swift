import RedisClient
import RedisRefresher

extension RedisConnection {
    /// Deletes every key of a throwaway session (demo, benchmarks), leaving the user's Redis as it was. Best effort:
    /// a failure here must not hide the run's own result.
    func deleteStoredKeys(of keys: SessionKeys) async {
        _ = try? await send(RedisCommand([RedisArgument("DEL")] + keys.storedKeys.map { RedisArgument($0) }))
    }
}
