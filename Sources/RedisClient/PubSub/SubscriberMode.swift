/// Which pub/sub a ``SubscriberStateMachine`` speaks.
enum SubscriberMode: Sendable, Hashable {
    /// `SUBSCRIBE` and `UNSUBSCRIBE`, `message` pushes: one server (a cluster broadcasts these to every node).
    case classic
    /// Redis 7's sharded pub/sub, `SSUBSCRIBE` and `SUNSUBSCRIBE`, `smessage` pushes: the connection is to the
    /// cluster node that serves the channels' slots, which drops a channel (pushing `sunsubscribe`) when its slot
    /// moves to another node.
    case sharded

    /// What a pushed message or a reply is, by its first element.
    enum Kind: Equatable {
        /// A message published to a channel (`message`, `smessage`).
        case message
        /// The confirmation of a subscribe (`subscribe`, `ssubscribe`).
        case subscribe
        /// An unsubscribe: the reply to ours or, in sharded mode, one the server pushes (`unsubscribe`,
        /// `sunsubscribe`).
        case unsubscribe
        /// Anything else (the `pong` answering a keepalive `PING`).
        case other
    }

    /// The command that subscribes one channel.
    var subscribeCommand: String {
        switch self {
        case .classic: "SUBSCRIBE"
        case .sharded: "SSUBSCRIBE"
        }
    }

    /// The command that unsubscribes channels.
    var unsubscribeCommand: String {
        switch self {
        case .classic: "UNSUBSCRIBE"
        case .sharded: "SUNSUBSCRIBE"
        }
    }

    /// The kind of a push or reply whose first element is `name`.
    func kind(of name: String) -> Kind {
        switch (self, name) {
        case (.classic, "message"), (.sharded, "smessage"): .message
        case (.classic, "subscribe"), (.sharded, "ssubscribe"): .subscribe
        case (.classic, "unsubscribe"), (.sharded, "sunsubscribe"): .unsubscribe
        default: .other
        }
    }
}
