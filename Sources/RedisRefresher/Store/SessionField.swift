/// The field names of the `session` hash (a public interface: operators read them with `redis-cli HGETALL`), in one
/// place for the Swift side; the scripts in ``Scripts`` use the same names.
enum SessionField {
    static let accessToken = "access_token"
    static let refreshToken = "refresh_token"
    static let expiresAt = "expires_at"
    static let generation = "generation"
    static let refreshedAt = "refreshed_at"
    static let refreshedBy = "refreshed_by"
    static let lineage = "lineage"
    static let rejectedGeneration = "rejected_generation"
    static let rejectedReason = "rejected_reason"
    static let unknownGeneration = "unknown_generation"
    static let unknownReason = "unknown_reason"
    static let attemptBy = "attempt_by"
    static let attemptAt = "attempt_at"
    static let attemptHeartbeat = "attempt_heartbeat"
}
