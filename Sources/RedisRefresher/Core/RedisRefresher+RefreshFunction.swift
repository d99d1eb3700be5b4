extension RedisRefresher {
    /// Whether the current task runs inside a refresh function (of any refresher in this process).
    ///
    /// Helpers that refresh on a 401, such as `AuthorizedHTTPClient` in `RedisRefresherHTTP`, check it and never
    /// start a refresh from inside one: a refresh function whose own request gets a 401 fails, it does not recurse
    /// into (and wait for) the refresh that is running it.
    @TaskLocal public static var isRunningRefreshFunction = false
}
