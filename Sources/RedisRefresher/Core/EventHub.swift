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
        var isSubscribed = false
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

    /// Starts listening to `channel` (once; later calls do nothing).
    func listen(to channel: String) {
        let start = state.withLock { state -> Bool in
            guard !state.closed, state.channels[channel]?.listener == nil else { return false }
            state.channels[channel, default: Channel()].listener = Task { [weak self] in
                await self?.runListener(channel)
            }
            return true
        }
        if start { logger.debug("listening for events", metadata: ["channel": "\(channel)"]) }
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
        _ = state.withLock { $0.channels[channel]?.handlers.removeValue(forKey: id) }
    }

    /// Stops every listener.
    func close() {
        let listeners = state.withLock { state in
            state.closed = true
            return state.channels.values.compactMap(\.listener)
        }
        for listener in listeners { listener.cancel() }
    }

    private func dispatch(_ event: RefresherEvent, channel: String) {
        let handlers = state.withLock { $0.channels[channel].map { Array($0.handlers.values) } ?? [] }
        for handler in handlers { handler(event) }
    }

    private func setSubscribed(_ value: Bool, channel: String) {
        state.withLock { $0.channels[channel]?.isSubscribed = value }
    }

    private func runListener(_ channel: String) async {
        var backoff = Duration.milliseconds(50)
        var everSubscribed = false
        while !Task.isCancelled {
            do {
                try await subscriber.subscribe(to: [channel]) { subscription in
                    setSubscribed(true, channel: channel)
                    backoff = .milliseconds(50)
                    // Anything may have happened while we were not subscribed.
                    if everSubscribed { dispatch(.gap, channel: channel) }
                    everSubscribed = true
                    for await event in subscription {
                        switch event {
                        case .message(_, let payload):
                            dispatch(RefresherEvent(line: String(decoding: payload, as: UTF8.self)), channel: channel)
                        case .gap:
                            dispatch(.gap, channel: channel)
                        }
                    }
                }
            } catch let error as RedisError where error.code == .clientClosed {
                setSubscribed(false, channel: channel)
                return
            } catch {
                logger.debug(
                    "event subscription failed; retrying",
                    metadata: ["channel": "\(channel)", "error": "\(error)"]
                )
            }
            setSubscribed(false, channel: channel)
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(1))
        }
    }
}
