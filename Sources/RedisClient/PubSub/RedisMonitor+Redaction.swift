/// Reflection of a monitor shows nothing of its connection (whose configuration holds the password).
extension RedisMonitor: CustomReflectable {
    /// No children.
    public var customMirror: Mirror { Mirror(self, children: [:], displayStyle: .class) }
}
