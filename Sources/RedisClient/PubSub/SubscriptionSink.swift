import Synchronization

/// The writing end of one subscription's events, which makes sure a reader that falls behind is told.
///
/// The stream keeps the newest `limit` events. When it drops the oldest one and no ``RedisSubscriptionEvent/gap`` is
/// left among the buffered events, a gap is yielded too: a loss is never silent, and a reader far behind sees one
/// gap, not one per dropped message. (A full buffer holds exactly the last `limit` events yielded, so the last gap is
/// still in it when fewer than `limit` events followed it.)
final class SubscriptionSink: Sendable {
    private let continuation: AsyncStream<RedisSubscriptionEvent>.Continuation
    private let limit: Int
    /// Events yielded since the last gap, saturating at `limit`, which is also where it starts (no gap yet). Several
    /// threads may yield (a cluster subscription's channels on several nodes' I/O threads, the gap of a subscription
    /// moved between nodes), so the count and the yields it accounts for are under this one lock.
    private let eventsSinceGap: Mutex<Int>

    private init(continuation: AsyncStream<RedisSubscriptionEvent>.Continuation, limit: Int) {
        self.continuation = continuation
        self.limit = limit
        self.eventsSinceGap = Mutex(limit)
    }

    /// A stream buffering up to `limit` events, and its sink.
    static func makeStream(limit: Int) -> (stream: AsyncStream<RedisSubscriptionEvent>, sink: SubscriptionSink) {
        let (stream, continuation) = AsyncStream.makeStream(
            of: RedisSubscriptionEvent.self,
            bufferingPolicy: .bufferingNewest(limit)
        )
        return (stream, SubscriptionSink(continuation: continuation, limit: limit))
    }

    /// Yields `event`, and a gap after it when the buffer dropped an event it could not otherwise tell about.
    func yield(_ event: RedisSubscriptionEvent) {
        eventsSinceGap.withLock { eventsSinceGap in
            let result = continuation.yield(event)
            var since = event == .gap ? 0 : min(eventsSinceGap + 1, limit)
            if case .dropped = result, since >= limit {
                continuation.yield(.gap)
                since = 0
            }
            eventsSinceGap = since
        }
    }

    /// Ends the stream; later events are discarded.
    func finish() {
        continuation.finish()
    }
}
