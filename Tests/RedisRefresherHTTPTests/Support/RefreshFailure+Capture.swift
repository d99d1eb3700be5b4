import RedisRefresher

/// The ``RefreshFailure`` `body` throws; any other outcome is an error.
func refreshFailure(
    isolation: isolated (any Actor)? = #isolation,
    _ body: () async throws -> RefreshedTokens
) async throws -> RefreshFailure {
    do {
        _ = try await body()
    } catch let failure as RefreshFailure {
        return failure
    }
    throw HTTPTestError("expected a RefreshFailure")
}
