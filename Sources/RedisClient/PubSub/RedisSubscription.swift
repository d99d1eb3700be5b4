/// What a subscription delivers.
public enum RedisSubscriptionEvent: Sendable, Hashable {
    /// A message published to one of the subscription's channels.
    case message(channel: String, payload: [UInt8])
    /// The connection was lost and has been re-established and resubscribed: messages published in between may be
    /// lost. Listeners should re-read whatever state the messages would have told them about.
    case gap
}

/// The events of one subscription, as an `AsyncSequence`, valid inside the closure given to
/// ``RedisSubscriber/subscribe(to:isolation:_:)``.
///
/// The sequence ends when the subscriber is closed. Up to ``RedisSubscriber/bufferLimit`` undelivered events are
/// buffered; beyond that the oldest are dropped and a ``RedisSubscriptionEvent/gap`` is delivered instead of them.
public struct RedisSubscription: AsyncSequence, Sendable {
    public typealias Element = RedisSubscriptionEvent
    public typealias Failure = Never

    /// The channels this subscription listens to.
    public let channels: [String]
    let stream: AsyncStream<RedisSubscriptionEvent>

    public func makeAsyncIterator() -> AsyncStream<RedisSubscriptionEvent>.Iterator {
        stream.makeAsyncIterator()
    }
}
