/// Reflection of a subscriber shows nothing of its connection (whose configuration holds the password).
extension RedisSubscriber: CustomReflectable {
    /// No children.
    public var customMirror: Mirror { Mirror(self, children: [:], displayStyle: .class) }
}
