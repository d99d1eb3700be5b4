import CHiredis

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One connection's bytes: a ``Transport`` underneath, hiredis's command formatter and reply reader on top, owned
/// and used by exactly one I/O thread.
///
/// The initializer connects and runs the handshake (TLS, then AUTH, SELECT and CLIENT SETNAME in one pipelined
/// write) without blocking the socket, all bounded by one deadline: the connect timeout. Afterwards ``IOLoop``
/// drives the wire with `poll`.
final class RedisWire {
    private let transport: any Transport
    private let reader: UnsafeMutablePointer<redisReader>
    private let inputBuffer: UnsafeMutableRawBufferPointer
    private var output = OutputBuffer()
    /// The readiness the last read that would block waits for.
    private var readWait = TransportWait.readable
    /// The readiness the last write that would block waits for.
    private var writeWait = TransportWait.writable
    /// Whether the server sent anything yet: a close before that hints at a TLS port spoken to in plaintext.
    private var hasReceived = false
    private let isTLS: Bool
    /// A close or error met by a ``read()`` that had already fed bytes: reported by ``nextReply()`` once the replies
    /// those bytes complete were taken, so a reply that arrived (a script's result, say) is never thrown away.
    private var failureAfterData: RedisError?

    /// How much one read takes; a TLS record holds at most 16 KiB.
    private static let readSize = 16 * 1024
    /// How many full reads one ``read()`` does at most, so a flood of replies cannot starve the loop's other work.
    private static let readsPerTurn = 16

    /// Connects, runs the handshake and returns when the connection is ready for commands; bounded by `deadline`
    /// (by default `configuration.connectTimeout` from now). `tls` is the context for ``RedisConfiguration/tls``
    /// (`nil`: plaintext). With `requirePrimary`, the handshake also sends `ROLE` and fails unless the node says it is
    /// a primary (`master`): a sentinel's answer may be out of date.
    init(
        configuration: RedisConfiguration,
        tls: TLSClientContext?,
        until deadline: ContinuousClock.Instant? = nil,
        requirePrimary: Bool = false
    ) throws(RedisError) {
        let deadline = deadline ?? ContinuousClock.now.advanced(by: configuration.connectTimeout)
        transport = try Self.openTransport(configuration, tls: tls, until: deadline)
        isTLS = tls != nil
        guard let reader = redisReaderCreate() else {
            throw RedisError(.connectionFailed, "cannot allocate a reply reader")
        }
        self.reader = reader
        inputBuffer = .allocate(byteCount: Self.readSize, alignment: 16)
        try handshake(configuration, requirePrimary: requirePrimary, until: deadline)
    }

    /// A connected socket, wrapped in TLS when `tls` is given (the TLS handshake runs later, in ``handshake``).
    private static func openTransport(
        _ configuration: RedisConfiguration,
        tls: TLSClientContext?,
        until deadline: ContinuousClock.Instant
    ) throws(RedisError) -> any Transport {
        let fd = try SocketConnector.connect(
            to: configuration.endpoint,
            keepAlive: configuration.keepAlive,
            until: deadline
        )
        let socket = SocketTransport(fileDescriptor: fd)
        guard let tls, case .tcp(let host, let port) = configuration.endpoint else { return socket }
        let peer = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        return try TLSTransport(socket: socket, context: tls, host: host, peer: peer)
    }

    deinit {
        redisReaderFree(reader)
        inputBuffer.deallocate()
    }

    /// The socket.
    var fileDescriptor: Int32 { transport.fileDescriptor }

    /// Whether commands are buffered but not yet written.
    var hasPendingOutput: Bool { !output.isEmpty }

    /// Whether received bytes wait in the transport where `poll` cannot see them: call ``read()`` without polling.
    var hasBufferedInput: Bool { transport.hasBufferedInput }

    /// The `poll` events the wire waits for: always input (replies, or the server's close), output while commands
    /// wait to be written, and whatever a transport operation that would block needs.
    var pollEvents: Int16 {
        var events = Int16(POLLIN) | readWait.pollEvent
        if !output.isEmpty { events |= writeWait.pollEvent }
        return events
    }

    /// Formats a command into the output buffer (no I/O).
    func append(_ command: RedisCommand) throws(RedisError) {
        var formatted: UnsafeMutablePointer<CChar>?
        let length = command.withArgv { argc, argv, argvlen in redisFormatCommandArgv(&formatted, argc, argv, argvlen) }
        guard length >= 0, let formatted else { throw RedisError(.io, "cannot format the command (out of memory)") }
        output.append(UnsafeRawBufferPointer(start: formatted, count: Int(length)))
        redisFreeCommand(formatted)
    }

    /// Writes as much of the output buffer as the transport takes without blocking.
    func flush() throws(RedisError) {
        while !output.isEmpty {
            let result = try output.withUnsentBytes { bytes throws(RedisError) in try transport.write(bytes) }
            switch result {
            case .transferred(let count): output.consume(count)
            case .wouldBlock(let wait):
                writeWait = wait
                return
            case .closed: throw RedisError(.connectionClosed, "the server closed the connection")
            }
        }
        writeWait = .writable
    }

    /// Reads what the transport has, feeding the reply parser, until it would block (or a turn's worth).
    ///
    /// A short read from a plain socket means the kernel buffer is empty; TLS may still hold decrypted bytes that
    /// `poll` cannot see, so reading goes on while ``Transport/hasBufferedInput`` says so.
    ///
    /// A close or error after this call fed bytes is held back for ``nextReply()``: take the replies first.
    func read() throws(RedisError) {
        if let failureAfterData { throw failureAfterData }
        var fed = false
        for _ in 0..<Self.readsPerTurn {
            let result: TransportResult
            do {
                result = try transport.read(into: inputBuffer)
            } catch {
                try fail(hasReceived || isTLS ? error : Self.plaintextHint(error), afterData: fed)
                return
            }
            switch result {
            case .transferred(let count):
                readWait = .readable
                hasReceived = true
                fed = true
                guard redisReaderFeed(reader, inputBuffer.baseAddress, count) == REDIS_OK else { throw readerError() }
                if count < inputBuffer.count && !transport.hasBufferedInput { return }
            case .wouldBlock(let wait):
                readWait = wait
                return
            case .closed:
                let error = RedisError(.connectionClosed, "the server closed the connection")
                try fail(hasReceived || isTLS ? error : Self.plaintextHint(error), afterData: fed)
                return
            }
        }
    }

    /// Throws `error` now, or, when bytes were fed in this read, keeps it for ``nextReply()``.
    private func fail(_ error: RedisError, afterData: Bool) throws(RedisError) {
        guard afterData else { throw error }
        failureAfterData = error
    }

    /// A TLS server drops a plaintext client (a close or a reset) before sending anything: say so.
    private static func plaintextHint(_ error: RedisError) -> RedisError {
        guard error.code == .connectionClosed || error.code == .io else { return error }
        return RedisError(error.code, "\(error.message) before answering (is this a TLS port? use rediss://)")
    }

    /// The next complete reply already read, or `nil` when more bytes are needed; once the replies are taken, the
    /// close or error that followed them.
    func nextReply() throws(RedisError) -> RedisValue? {
        var reply: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &reply) == REDIS_OK else { throw readerError() }
        guard let reply else {
            if let failureAfterData { throw failureAfterData }
            return nil
        }
        defer { freeReplyObject(reply) }
        return RedisValue(hiredisReply: reply.assumingMemoryBound(to: redisReply.self))
    }

    private func readerError() -> RedisError {
        RedisError(.protocolError, "protocol error: \(String(cString: chiredis_reader_errstr(reader)))")
    }

    // MARK: - Handshake

    /// One handshake command and how a server error to it is reported (`nil`: ignored).
    private struct Step {
        let command: RedisCommand
        let failure: (code: RedisError.Code, what: String)?
    }

    /// The transport's handshake, then AUTH, SELECT, CLIENT SETNAME (and ROLE) pipelined; the first error reply fails
    /// it.
    private func handshake(
        _ configuration: RedisConfiguration,
        requirePrimary: Bool,
        until deadline: ContinuousClock.Instant
    )
        throws(RedisError)
    {
        while let wait = try transport.handshake() {
            guard try Socket.wait(transport.fileDescriptor, for: wait.pollEvent, until: deadline) else {
                // A plaintext Redis port takes the TLS hello for the start of an inline command and waits for its
                // newline: silence is the usual sign of a port that does not speak TLS.
                throw RedisError(
                    .timeout,
                    "the TLS handshake got no answer within the connect timeout (the server may not speak TLS: a "
                        + "plaintext Redis port stays silent)"
                )
            }
        }
        var steps: [Step] = []
        if let password = configuration.password {
            var auth = RedisCommand("AUTH")
            if let username = configuration.username { auth.append(RedisArgument(username)) }
            auth.append(RedisArgument(password))
            steps.append(Step(command: auth, failure: (.authenticationFailed, "AUTH")))
        }
        if configuration.database != 0 {
            // A rejected SELECT (database out of range) is a configuration problem that no reconnect fixes: report
            // it as documented for `authenticationFailed` ("AUTH or SELECT was rejected"), not as a retryable
            // `connectionFailed`.
            steps.append(
                Step(
                    command: RedisCommand("SELECT", RedisArgument(configuration.database)),
                    failure: (.authenticationFailed, "SELECT \(configuration.database)")
                )
            )
        }
        if let name = configuration.clientName {
            steps.append(
                Step(
                    command: RedisCommand("CLIENT", "SETNAME", RedisArgument(name)),
                    failure: (.connectionFailed, "CLIENT SETNAME")
                )
            )
        }
        // A refused ROLE (an ACL without it) is a configuration problem, like a refused AUTH.
        if requirePrimary {
            steps.append(Step(command: RedisCommand("ROLE"), failure: (.authenticationFailed, "ROLE")))
        }
        // TLS 1.3 servers reject a missing client certificate after the client considers the handshake done: a
        // round trip makes that (and any other late TLS failure) surface here, at connect.
        if isTLS && steps.isEmpty { steps.append(Step(command: RedisCommand("PING"), failure: nil)) }
        guard !steps.isEmpty else { return }
        let replies = try roundTrip(steps.map(\.command), until: deadline)
        for (step, reply) in zip(steps, replies) {
            if let failure = step.failure, case .error(let message) = reply {
                throw RedisError(failure.code, "\(failure.what) failed: \(message)")
            }
        }
        if requirePrimary, let role = replies.last?.array?.first?.string, role != "master" {
            throw RedisError(.connectionFailed, "the node is not the primary: its ROLE is \(role)")
        }
    }

    /// Writes `commands` and reads their replies, blocking this thread until `deadline`: for the handshake and for
    /// the short exchanges of Sentinel discovery, which run on the connection's own thread.
    func roundTrip(
        _ commands: [RedisCommand],
        until deadline: ContinuousClock.Instant
    ) throws(RedisError) -> [RedisValue] {
        for command in commands { try append(command) }
        do {
            while hasPendingOutput {
                try flush()
                if hasPendingOutput { try wait(for: writeWait, until: deadline) }
            }
        } catch {
            throw explainedWriteFailure(error)
        }
        var replies: [RedisValue] = []
        replies.reserveCapacity(commands.count)
        for _ in commands { replies.append(try nextHandshakeReply(until: deadline)) }
        return replies
    }

    /// A TLS server that refuses the client (no client certificate, say) sends an alert and closes, so the write
    /// that follows fails: the alert, still waiting to be read, tells why.
    private func explainedWriteFailure(_ error: RedisError) -> RedisError {
        guard isTLS else { return error }
        do {
            try read()
        } catch {
            if error.code == .tlsFailed { return error }
        }
        return error
    }

    /// Reads until a reply is complete or `deadline` passes.
    private func nextHandshakeReply(until deadline: ContinuousClock.Instant) throws(RedisError) -> RedisValue {
        while true {
            if let reply = try nextReply() { return reply }
            if !transport.hasBufferedInput { try wait(for: readWait, until: deadline) }
            try read()
        }
    }

    /// Waits for the socket readiness `wait` until `deadline`.
    private func wait(for wait: TransportWait, until deadline: ContinuousClock.Instant) throws(RedisError) {
        guard try Socket.wait(transport.fileDescriptor, for: wait.pollEvent, until: deadline) else {
            throw RedisError(.timeout, "the server did not answer in time")
        }
    }
}
