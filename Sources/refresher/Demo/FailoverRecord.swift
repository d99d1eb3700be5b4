import DemoIdentityProvider

/// What the demo's failover did and when, with what the identity provider had counted when it began and when the
/// new primary was in place.
struct FailoverRecord: Sendable {
    var kind: FailoverKind
    /// Unix time at which it began: the request, the kill or the pause.
    var startedAt: Double
    var statsAtStart: DemoIdentityProvider.Stats
    var oldPrimaryPort: Int?
    var newPrimaryPort: Int?
    /// Unix time at which a majority of the sentinels reported the new primary and it answered `ROLE` as master.
    var newPrimaryAt: Double?
    /// From the beginning to the new primary, in seconds (for `SENTINEL FAILOVER`, from the request the sentinel
    /// accepted).
    var secondsToNewPrimary: Double?
    var statsAtNewPrimary: DemoIdentityProvider.Stats?
    /// Unix time at which the sentinels had made the old primary a replica of the new one (restarted after a kill,
    /// resumed after a pause), and the new primary had its two replicas again.
    var oldPrimaryReplicaAt: Double?
    /// Why it did not complete.
    var failure: String?
}
