/// How an ``OAuth2RefreshGrant`` authenticates the client at the token endpoint (RFC 6749 §2.3).
///
/// Its description never shows the secret.
public enum OAuth2ClientAuthentication: Sendable, Hashable, CustomStringConvertible, CustomReflectable {
    /// No client authentication and no `client_id` (the token endpoint knows the client from the refresh token).
    case none
    /// A public client: `client_id` in the request body, no secret (RFC 6749 §3.2.1).
    case publicClient(clientID: String)
    /// `Authorization: Basic` with the form-encoded id and secret (`client_secret_basic`, RFC 6749 §2.3.1).
    case basic(clientID: String, clientSecret: String)
    /// `client_id` and `client_secret` in the request body (`client_secret_post`, RFC 6749 §2.3.1).
    case requestBody(clientID: String, clientSecret: String)

    public var description: String {
        switch self {
        case .none: "none"
        case .publicClient(let clientID): "publicClient(\(clientID))"
        case .basic(let clientID, _): "basic(\(clientID), secret: <redacted>)"
        case .requestBody(let clientID, _): "requestBody(\(clientID), secret: <redacted>)"
        }
    }

    public var customMirror: Mirror { Mirror(self, children: ["method": description]) }
}
