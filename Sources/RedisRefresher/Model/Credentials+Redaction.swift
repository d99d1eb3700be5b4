/// Reflection of credentials shows token fingerprints (`sha1:1a2b3c4d`), never a token: `dump`, `Mirror`,
/// `String(reflecting:)` and `debugPrint` are as safe as `description`.
extension Credentials: CustomDebugStringConvertible, CustomReflectable {
    /// The same as ``description``.
    public var debugDescription: String { description }

    /// The stored properties, each token replaced by its ``TokenFingerprint``.
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "accessToken": TokenFingerprint.of(accessToken),
                "refreshToken": TokenFingerprint.of(refreshToken),
                "expiresAtMilliseconds": expiresAtMilliseconds as Any,
                "generation": generation,
                "refreshedAtMilliseconds": refreshedAtMilliseconds as Any,
                "refreshedBy": refreshedBy as Any,
                "lineage": lineage as Any,
            ],
            displayStyle: .struct
        )
    }
}
