extension TopologyError {
    /// Runs `body` and throws what it throws as a ``TopologyError``: one unchanged, any other (a ``RedisError``, a
    /// cancellation) with `what` was being done, for the API that throws only ``TopologyError``.
    static func wrapping<T>(
        _ what: @autoclosure () -> String,
        isolation: isolated (any Actor)? = #isolation,
        _ body: () async throws -> T
    ) async throws(TopologyError) -> T {
        do {
            return try await body()
        } catch let error as TopologyError {
            throw error
        } catch {
            throw TopologyError("\(what()): \(error)")
        }
    }
}
