/// The JSON body of a token endpoint's answer (RFC 6749 §5.1 and §5.2), lenient where servers differ:
/// `expires_in` as a number or a numeric string.
struct TokenEndpointResponse: Decodable {
    var accessToken: String?
    var tokenType: String?
    var refreshToken: String?
    var expiresIn: Double?
    var error: String?

    enum CodingKeys: String, CodingKey {
        case accessToken = "access_token"
        case tokenType = "token_type"
        case refreshToken = "refresh_token"
        case expiresIn = "expires_in"
        case error
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        accessToken = try? container.decodeIfPresent(String.self, forKey: .accessToken)
        tokenType = try? container.decodeIfPresent(String.self, forKey: .tokenType)
        refreshToken = try? container.decodeIfPresent(String.self, forKey: .refreshToken)
        error = try? container.decodeIfPresent(String.self, forKey: .error)
        if let number = try? container.decodeIfPresent(Double.self, forKey: .expiresIn) {
            expiresIn = number
        } else if let text = try? container.decodeIfPresent(String.self, forKey: .expiresIn) {
            expiresIn = Double(text)
        }
    }
}
