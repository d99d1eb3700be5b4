import AsyncHTTPClient
import RedisRefresher

/// How the refresh functions of this module turn HTTP outcomes into `RefreshFailure`s. Reasons are short and fixed
/// in form: a status code, a sanitized OAuth error code, an error type; never a token, a response body or a header.
enum RefreshFailures {
    private static let timeouts: [HTTPClientError] = [
        .deadlineExceeded, .readTimeout, .writeTimeout, .connectTimeout, .getConnectionFromPoolTimeout,
    ]
    private static let codeScalars = Set(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-".unicodeScalars)

    /// A request that did not produce a response: a timeout or a network error, both transient.
    static func transport(_ error: any Error, _ endpoint: String) -> RefreshFailure {
        if let error = error as? HTTPClientError, timeouts.contains(error) {
            return .transient("\(endpoint) timed out")
        }
        return .transient("\(endpoint) unreachable (\(type(of: error)))")
    }

    /// An OAuth `error` code as published: the registry's codes are `[a-z_]`; anything else is summarized.
    static func sanitizedCode(_ code: String?) -> String? {
        guard let code, !code.isEmpty else { return nil }
        guard code.utf8.count <= 64, code.unicodeScalars.allSatisfy(codeScalars.contains) else {
            return "unrecognized_error"
        }
        return code
    }
}
