import AsyncHTTPClient
import RedisRefresher

/// How an ``AuthorizedHTTPClient`` puts the session's access token on a request.
///
/// ```swift
/// let api = AuthorizedHTTPClient(client: .shared, refresher: refresher)                          // Bearer
/// let web = AuthorizedHTTPClient(client: .shared, refresher: refresher, authorization: .cookie(named: "access_token"))
/// ```
public struct RequestAuthorization: Sendable {
    private let body: @Sendable (inout HTTPClientRequest, Credentials) -> Void

    /// A custom scheme: `apply` receives the request and the credentials of this attempt and sets what it needs
    /// (a header, a signature). It must set everything anew: it also runs on the retry after a 401.
    public init(_ apply: @escaping @Sendable (inout HTTPClientRequest, Credentials) -> Void) {
        body = apply
    }

    /// Applies the scheme to `request`.
    public func apply(_ credentials: Credentials, to request: inout HTTPClientRequest) {
        body(&request, credentials)
    }

    /// `Authorization: Bearer <access token>` (RFC 6750), replacing any `Authorization` header.
    public static let bearer = RequestAuthorization { request, credentials in
        request.headers.replaceOrAdd(name: "Authorization", value: "Bearer \(credentials.accessToken)")
    }

    /// The access token as the cookie `name`, replacing a cookie of that name and keeping the request's others.
    public static func cookie(named name: String) -> RequestAuthorization {
        RequestAuthorization { request, credentials in
            let others = request.headers["Cookie"]
                .flatMap { $0.split(separator: ";") }
                .map { $0.trimmingSpaces }
                .filter { !$0.isEmpty && !$0.hasPrefix("\(name)=") }
            request.headers.remove(name: "Cookie")
            let cookies = others + ["\(name)=\(credentials.accessToken)"]
            request.headers.add(name: "Cookie", value: cookies.joined(separator: "; "))
        }
    }

    /// Sends nothing: the request needs no credentials, or the `makeRequest` closure of
    /// ``AuthorizedHTTPClient/execute(timeout:logger:_:)`` sets them itself.
    public static let none = RequestAuthorization { _, _ in }
}

extension Substring {
    /// Without leading and trailing spaces.
    var trimmingSpaces: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
