/// Reflection of a monitor shows nothing of its connection (whose configuration holds the password).
extension RedisMonitor: CustomReflectable {
    /// No children.
    package var customMirror: Mirror { Mirror(self, children: [:], displayStyle: .class) }
}
