extension RedisRefresher {
    /// The session's events as they arrive on its events channel, for in-process listeners (dashboards, audit logs,
    /// tests): `refreshed`, `failed`, `released` and `replaced` lines from every worker of the fleet, including this
    /// one, plus a local ``RefresherEvent/gap`` whenever the subscription was interrupted and events may have been
    /// missed. No event carries a token.
    ///
    /// ```swift
    /// for await event in refresher.events() {
    ///     if case .refreshed(let generation, let by, _) = event { print("generation \(generation) by \(by)") }
    /// }
    /// ```
    ///
    /// The stream ends when the refresher shuts down; stop iterating (or cancel the iterating task) to unsubscribe
    /// earlier. Events that arrive while nobody iterates are buffered according to `bufferingPolicy`; by default
    /// the newest 1,024 are kept. Events published before the subscription is confirmed
    /// (``isListeningForEvents``) are not delivered.
    public func events(
        bufferingPolicy: AsyncStream<RefresherEvent>.Continuation.BufferingPolicy = .bufferingNewest(1024)
    ) -> AsyncStream<RefresherEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: RefresherEvent.self, bufferingPolicy: bufferingPolicy)
        let hub = connections.hub
        let channel = keys.events
        let handlerID = hub.addHandler(channel: channel) { event in continuation.yield(event) }
        let streamID = features.withLock { features -> UInt64 in
            features.nextStreamID += 1
            return features.nextStreamID
        }
        continuation.onTermination = { [weak self] _ in
            hub.removeHandler(handlerID, channel: channel)
            _ = self?.features.withLock { $0.streams.removeValue(forKey: streamID) }
        }
        let registered = features.withLock { features -> Bool in
            guard !features.streamsClosed else { return false }
            features.streams[streamID] = continuation
            return true
        }
        if !registered { continuation.finish() }
        return stream
    }

    /// Whether the subscription to the session's events channel is confirmed by the server: from then on every
    /// published event reaches ``events(bufferingPolicy:)`` and the in-memory cache. Useful for readiness probes.
    public var isListeningForEvents: Bool { connections.hub.isSubscribed(to: keys.events) }

    /// Ends every stream returned by ``events(bufferingPolicy:)`` (on shutdown).
    func finishEventStreams() {
        let streams = features.withLock { features in
            features.streamsClosed = true
            defer { features.streams = [:] }
            return Array(features.streams.values)
        }
        for stream in streams { stream.finish() }
    }
}
