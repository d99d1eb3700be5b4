import Logging
import RedisClient
import Synchronization

/// Fans the events of each session's channel out to every interested task in this process.
///
/// One ``RedisSubscriber`` connection per process carries every session's channel; per channel one listener task
/// reads the subscription and calls the registered handlers (the session's cache and its waiting refreshes).
/// While the subscription is down the listener resubscribes with backoff and delivers ``RefresherEvent/gap``, and
/// waiters keep polling, so nothing depends on a message arriving.
final class EventHub: Sendable {
    typealias Handler = @Sendable (RefresherEvent) -> Void

    private struct Channel {
        var handlers: [UInt64: Handler] = [:]
        var listener: Task<Void, Never>?
        /// Tells this channel's listener apart from an earlier one that was stopped and may still be winding down.
        var listenerID: UInt64 = 0
        /// How many refreshers asked to listen (``listen(to:)``) and have not stopped (``stopListening(to:)``).
        var listeners = 0
        var isSubscribed = false

        /// Nothing refers to the channel any more: its entry can go.
        var isUnused: Bool { handlers.isEmpty && listeners == 0 && listener == nil }
    }

    private struct State {
        var channels: [String: Channel] = [:]
        var nextID: UInt64 = 0
        var closed = false
    }

    private let subscriber: RedisSubscriber
    private let logger: Logger
    private let state = Mutex(State())

    init(subscriber: RedisSubscriber, logger: Logger) {
        self.subscriber = subscriber
        self.logger = logger
    }

    /// Starts listening to `channel` unless a listener runs already; every call must be matched by one
    /// ``stopListening(to:)``, and the listener stops (unsubscribing the channel) after the last one.
    func listen(to channel: String) {
        let start = state.withLock { state -> Bool in
            guard !state.closed else { return false }
            state.nextID += 1
            let id = state.nextID
            return modify(&state.channels, channel) { entry in
                entry.listeners += 1
                guard entry.listener == nil else { return false }
                entry.listenerID = id
                entry.listener = Task { [weak self] in await self?.runListener(channel, id: id) }
                return true
            }
        }
        if start { logger.debug("listening for events", metadata: ["channel": "\(channel)"]) }
    }

    /// Undoes one ``listen(to:)``: after the last one the channel's listener stops and unsubscribes, so a process
    /// whose sessions come and go keeps no subscription (nor task) for sessions it no longer serves.
    func stopListening(to channel: String) {
        let stopped = state.withLock { state -> Task<Void, Never>? in
            modify(&state.channels, channel) { entry -> Task<Void, Never>? in
                guard entry.listeners > 0 else { return nil }
                entry.listeners -= 1
                guard entry.listeners == 0, let listener = entry.listener else { return nil }
                entry.listener = nil
                entry.isSubscribed = false
                return listener
            }
        }
        guard let stopped else { return }
        stopped.cancel()
        logger.debug("stopped listening for events", metadata: ["channel": "\(channel)"])
    }

    /// Changes the entry of `channel` (created when missing) with `body`, and drops it when nothing uses it anymore.
    private func modify<Result>(
        _ channels: inout [String: Channel],
        _ channel: String,
        _ body: (inout Channel) -> Result
    ) -> Result {
        var entry = channels.removeValue(forKey: channel) ?? Channel()
        let result = body(&entry)
        if !entry.isUnused { channels[channel] = entry }
        return result
    }

    /// Whether the server has confirmed the subscription to `channel`, so a message published from now on reaches
    /// the handlers.
    func isSubscribed(to channel: String) -> Bool {
        state.withLock { $0.channels[channel]?.isSubscribed ?? false }
    }

    /// Adds a handler for `channel`; returns its id for ``removeHandler(_:channel:)``.
    func addHandler(channel: String, _ handler: @escaping Handler) -> UInt64 {
        state.withLock { state in
            state.nextID += 1
            state.channels[channel, default: Channel()].handlers[state.nextID] = handler
            return state.nextID
        }
    }

    func removeHandler(_ id: UInt64, channel: String) {
        state.withLock { state in
            guard state.channels[channel] != nil else { return }
            modify(&state.channels, channel) { _ = $0.handlers.removeValue(forKey: id) }
        }
    }

    /// Stops every listener.
    func close() {
        let listeners = state.withLock { state in
            state.closed = true
            return state.channels.values.compactMap(\.listener)
        }
        for listener in listeners { listener.cancel() }
    }

    /// Calls the handlers of `channel` with an event that listener `id` received (none once that listener was
    /// stopped: a listener started after it delivers the channel's events from then on).
    private func dispatch(_ event: RefresherEvent, channel: String, id: UInt64) {
        let handlers = state.withLock { state -> [Handler] in
            guard let entry = state.channels[channel], entry.listenerID == id, entry.listener != nil else { return [] }
            return Array(entry.handlers.values)
        }
        for handler in handlers { handler(event) }
    }

    /// Records the subscription state reported by the listener `id` (ignored once that listener was stopped).
    private func setSubscribed(_ value: Bool, channel: String, id: UInt64) {
        state.withLock { state in
            guard state.channels[channel]?.listenerID == id, state.channels[channel]?.listener != nil else { return }
            state.channels[channel]?.isSubscribed = value
        }
    }

    /// Whether ``close()`` ran: only then does a closed subscription end a listener (a cluster node's subscriber
    /// may close under a subscription that moved on, which subscribes again).
    private var isClosed: Bool {
        state.withLock { $0.closed }
    }

    private func runListener(_ channel: String, id: UInt64) async {
        var backoff = Duration.milliseconds(50)
        var everSubscribed = false
        while !Task.isCancelled {
            do {
                try await subscriber.subscribe(to: [channel]) { subscription in
                    setSubscribed(true, channel: channel, id: id)
                    backoff = .milliseconds(50)
                    // Anything may have happened while we were not subscribed.
                    if everSubscribed { dispatch(.gap, channel: channel, id: id) }
                    everSubscribed = true
                    for await event in subscription {
                        switch event {
                        case .message(_, let payload):
                            dispatch(
                                RefresherEvent(line: String(decoding: payload, as: UTF8.self)),
                                channel: channel,
                                id: id
                            )
                        case .gap:
                            dispatch(.gap, channel: channel, id: id)
                        }
                    }
                }
            } catch let error as RedisError where error.code == .clientClosed && isClosed {
                setSubscribed(false, channel: channel, id: id)
                return
            } catch {
                // Stopped (``stopListening(to:)``) while subscribing: nothing failed.
                if Task.isCancelled { return }
                logger.debug(
                    "event subscription failed; retrying",
                    metadata: ["channel": "\(channel)", "error": "\(error)"]
                )
            }
            setSubscribed(false, channel: channel, id: id)
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(1))
        }
    }
}
