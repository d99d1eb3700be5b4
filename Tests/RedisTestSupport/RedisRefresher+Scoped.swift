import RedisRefresher

/// Runs `body` with `refresher` and shuts the refresher down (with `gracePeriod`, default its configuration's)
/// whether or not `body` throws, so a failing test leaves no connection, subscription or refresh behind for the
/// tests after it.
public func withRefresher<T>(
    _ refresher: RedisRefresher,
    gracePeriod: Duration? = nil,
    isolation: isolated (any Actor)? = #isolation,
    _ body: (RedisRefresher) async throws -> T
) async throws -> T {
    do {
        let result = try await body(refresher)
        await refresher.shutdown(gracePeriod: gracePeriod)
        return result
    } catch {
        await refresher.shutdown(gracePeriod: gracePeriod)
        throw error
    }
}

/// Makes `count` refreshers with `make` (given each one's index), runs `body` with them, and shuts them all down
/// whether or not `body` (or making one of them) throws.
public func withRefreshers<T>(
    count: Int,
    isolation: isolated (any Actor)? = #isolation,
    _ make: (Int) async throws -> RedisRefresher,
    _ body: ([RedisRefresher]) async throws -> T
) async throws -> T {
    var refreshers: [RedisRefresher] = []
    do {
        for index in 0..<count { refreshers.append(try await make(index)) }
        let result = try await body(refreshers)
        for refresher in refreshers { await refresher.shutdown() }
        return result
    } catch {
        for refresher in refreshers { await refresher.shutdown() }
        throw error
    }
}
