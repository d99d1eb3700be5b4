import Synchronization

/// One caller's commands travelling to the I/O thread and its replies travelling back.
///
/// The continuation is resumed exactly once: by the I/O thread with the replies or an error, or by the caller's
/// cancellation handler. A cancelled request stays in the in-flight queue so replies keep their order; its replies
/// are dropped.
final class PendingRequest: Sendable {
    typealias Replies = [Result<RedisValue, RedisError>]

    private enum State {
        case initial
        case waiting(CheckedContinuation<Replies, any Error>)
        case finished
    }

    let commands: [RedisCommand]
    private let state = Mutex<State>(.initial)

    init(_ commands: [RedisCommand]) {
        self.commands = commands
    }

    /// Installs the continuation; resumes it at once if the request already finished (cancelled early).
    func install(_ continuation: CheckedContinuation<Replies, any Error>) {
        let alreadyFinished = state.withLock { state -> Bool in
            guard case .initial = state else { return true }
            state = .waiting(continuation)
            return false
        }
        if alreadyFinished { continuation.resume(throwing: RedisError(.cancelled, "the command was cancelled")) }
    }

    /// Whether the caller has gone (cancelled); the I/O thread skips such requests that it has not yet sent.
    var isFinished: Bool {
        state.withLock { if case .finished = $0 { true } else { false } }
    }

    /// Resumes the caller once; later calls do nothing.
    func finish(_ result: Result<Replies, RedisError>) {
        let continuation = state.withLock { state -> CheckedContinuation<Replies, any Error>? in
            defer { state = .finished }
            if case .waiting(let continuation) = state { return continuation }
            return nil
        }
        continuation?.resume(with: result.mapError { $0 as any Error })
    }
}
