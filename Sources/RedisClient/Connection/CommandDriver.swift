import Synchronization

/// The queue between async callers and a command connection's I/O thread.
final class CommandQueue: Sendable {
    private struct State {
        var requests: [PendingRequest] = []
        var closed = false
    }
    private let state = Mutex(State())

    /// Adds a request; returns whether the loop must be woken (the queue was empty), or `nil` when closed.
    func enqueue(_ request: PendingRequest) -> Bool? {
        state.withLock { state in
            guard !state.closed else { return nil }
            state.requests.append(request)
            return state.requests.count == 1
        }
    }

    /// Takes every queued request.
    func takeAll() -> [PendingRequest] {
        state.withLock { state in
            guard !state.requests.isEmpty else { return [] }
            defer { state.requests.removeAll(keepingCapacity: true) }
            return state.requests
        }
    }

    /// Refuses new requests and returns those still queued.
    func close() -> [PendingRequest] {
        state.withLock { state in
            state.closed = true
            defer { state.requests = [] }
            return state.requests
        }
    }
}

/// Drives a command connection on its I/O thread: writes queued requests in one batch (callers that arrive
/// together are pipelined automatically), matches replies to requests in order, and enforces the command timeout.
final class CommandDriver: IOLoopDriver {
    private struct InFlight {
        let request: PendingRequest
        var replies: PendingRequest.Replies
        let deadline: ContinuousClock.Instant
    }

    private let queue: CommandQueue
    private let commandTimeout: Duration
    private var inFlight: [InFlight] = []
    private var head = 0
    /// A `READONLY` or `LOADING` reply seen on this connection.
    private var staleReply: String?

    init(queue: CommandQueue, commandTimeout: Duration) {
        self.queue = queue
        self.commandTimeout = commandTimeout
    }

    func wakeUp(_ loop: IOLoop) {
        let batch = queue.takeAll()
        guard !batch.isEmpty else { return }
        // A close by the server that arrived before these commands were queued is noticed now, so they go to a new
        // connection rather than fail on the dead one.
        loop.readPending()
        do {
            try loop.connect()
        } catch {
            for request in batch { request.finish(.failure(error)) }
            return
        }
        let deadline = ContinuousClock.now.advanced(by: commandTimeout)
        for (index, request) in batch.enumerated() where !request.isFinished {
            do {
                for command in request.commands { try loop.send(command) }
            } catch {
                // Only allocation failure gets here; the output buffer may hold half a request, so start over.
                request.finish(.failure(error))
                for later in batch[(index + 1)...] { later.finish(.failure(error)) }
                loop.disconnect(error)
                return
            }
            var replies = PendingRequest.Replies()
            replies.reserveCapacity(request.commands.count)
            inFlight.append(InFlight(request: request, replies: replies, deadline: deadline))
        }
    }

    func received(_ value: RedisValue, _ loop: IOLoop) {
        guard head < inFlight.count else {
            loop.disconnect(RedisError(.protocolError, "the server sent a reply nobody asked for"))
            return
        }
        if case .error(let message) = value {
            inFlight[head].replies.append(.failure(RedisError(.server, message)))
            if message.hasPrefix("READONLY") || message.hasPrefix("LOADING") { staleReply = message }
        } else {
            inFlight[head].replies.append(.success(value))
        }
        let entry = inFlight[head]
        guard entry.replies.count == entry.request.commands.count else { return }
        entry.request.finish(.success(entry.replies))
        popHead()
        // The node stopped being the primary (Sentinel demoted it, or it restarted): once nothing else is in flight
        // on it, leave it; with Sentinel the next command finds the primary again.
        if let reply = staleReply, head == inFlight.count {
            staleReply = nil
            loop.leaveStalePrimary(reply)
        }
    }

    func connectionLost(_ error: RedisError, _ loop: IOLoop) {
        staleReply = nil
        failInFlight(error)
    }

    func nextDeadline() -> ContinuousClock.Instant? {
        head < inFlight.count ? inFlight[head].deadline : nil
    }

    func timerFired(_ now: ContinuousClock.Instant, _ loop: IOLoop) {
        guard head < inFlight.count, inFlight[head].deadline <= now else { return }
        loop.disconnect(
            RedisError(.timeout, "no reply within the command timeout (\(commandTimeout)); the connection was closed")
        )
    }

    func stopped() {
        let error = RedisError(.clientClosed, "the connection was closed")
        failInFlight(error)
        for request in queue.close() { request.finish(.failure(error)) }
    }

    private func failInFlight(_ error: RedisError) {
        for index in head..<inFlight.count { inFlight[index].request.finish(.failure(error)) }
        inFlight.removeAll(keepingCapacity: inFlight.count < 4096)
        head = 0
    }

    private func popHead() {
        head += 1
        if head == inFlight.count {
            inFlight.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 1024 && head * 2 >= inFlight.count {
            inFlight.removeFirst(head)
            head = 0
        }
    }
}
