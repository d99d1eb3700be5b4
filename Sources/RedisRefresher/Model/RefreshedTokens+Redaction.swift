/// Reflection of new tokens shows their fingerprints (`sha1:1a2b3c4d`), never a token.
extension RefreshedTokens: CustomDebugStringConvertible, CustomReflectable {
    /// The same as ``description``.
    public var debugDescription: String { description }

    /// The stored properties, each token replaced by its ``TokenFingerprint`` (`nil`: the refresh token is kept).
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "accessToken": TokenFingerprint.of(accessToken),
                "refreshToken": refreshToken.map(TokenFingerprint.of) as Any,
                "expiresAtMilliseconds": expiresAtMilliseconds as Any,
            ],
            displayStyle: .struct
        )
    }
}
