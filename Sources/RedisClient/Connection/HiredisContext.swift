import CHiredis

/// A connected hiredis context, owned and used by exactly one I/O thread.
///
/// Connecting, AUTH and SELECT run blocking (on the I/O thread); afterwards the socket is switched to non-blocking
/// and driven with `poll` by ``IOLoop``.
final class HiredisContext {
    private let raw: UnsafeMutablePointer<redisContext>

    /// Connects, authenticates and selects the database; blocking, bounded by `connectTimeout`.
    init(configuration: RedisConfiguration) throws(RedisError) {
        let timeout = chiredis_timeval_ms(configuration.connectTimeout.milliseconds)
        let context: UnsafeMutablePointer<redisContext>?
        let target: String
        switch configuration.endpoint {
        case .tcp(let host, let port):
            context = redisConnectWithTimeout(host, Int32(port), timeout)
            target = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix(let path):
            context = redisConnectUnixWithTimeout(path, timeout)
            target = path
        }
        guard let context else { throw RedisError(.connectionFailed, "cannot allocate a hiredis context") }
        if context.pointee.err != 0 {
            let reason = String(cString: chiredis_errstr(context))
            redisFree(context)
            throw RedisError(.connectionFailed, "cannot connect to \(target): \(reason)")
        }
        raw = context
        // The handshake runs blocking; bound each of its replies by the connect timeout.
        redisSetTimeout(raw, timeout)
        if configuration.keepAlive, case .tcp = configuration.endpoint { redisEnableKeepAlive(raw) }
        if let password = configuration.password {
            var auth = RedisCommand("AUTH")
            if let username = configuration.username { auth.append(RedisArgument(username)) }
            auth.append(RedisArgument(password))
            try handshake(auth, code: .authenticationFailed, what: "AUTH")
        }
        if configuration.database != 0 {
            // A rejected SELECT (database out of range) is a configuration problem that no reconnect fixes: report
            // it as documented for `authenticationFailed` ("AUTH or SELECT was rejected"), not as a retryable
            // `connectionFailed`.
            try handshake(
                RedisCommand("SELECT", RedisArgument(configuration.database)),
                code: .authenticationFailed,
                what: "SELECT \(configuration.database)"
            )
        }
        if let name = configuration.clientName {
            try handshake(
                RedisCommand("CLIENT", "SETNAME", RedisArgument(name)),
                code: .connectionFailed,
                what: "CLIENT SETNAME"
            )
        }
        guard chiredis_set_nonblocking(raw) == 0 else {
            throw RedisError(.io, "cannot switch the socket to non-blocking mode")
        }
    }

    deinit { redisFree(raw) }

    /// Runs one blocking handshake command; a server error becomes `code` (the command's arguments are not shown).
    private func handshake(_ command: RedisCommand, code: RedisError.Code, what: String) throws(RedisError) {
        let reply = command.withArgv { argc, argv, argvlen in redisCommandArgv(raw, argc, argv, argvlen) }
        guard let reply else { throw contextError() }
        let value = Self.convert(reply.assumingMemoryBound(to: redisReply.self))
        freeReplyObject(reply)
        if case .error(let message) = value { throw RedisError(code, "\(what) failed: \(message)") }
    }

    /// The socket.
    var fileDescriptor: Int32 { chiredis_fd(raw) }

    /// Whether commands are buffered but not yet written.
    var hasPendingOutput: Bool { chiredis_has_pending_output(raw) != 0 }

    /// Appends a command to the output buffer (no I/O).
    func append(_ command: RedisCommand) throws(RedisError) {
        let status = command.withArgv { argc, argv, argvlen in redisAppendCommandArgv(raw, argc, argv, argvlen) }
        if status != REDIS_OK { throw contextError() }
    }

    /// Writes as much of the output buffer as the socket takes without blocking.
    func flush() throws(RedisError) {
        var done: Int32 = 0
        while done == 0 {
            guard redisBufferWrite(raw, &done) == REDIS_OK else { throw contextError() }
            // A non-blocking write that would block leaves `done` at 0 and the buffer unchanged: wait for POLLOUT.
            if done == 0 && hasPendingOutput { return }
        }
    }

    /// Reads what the socket has (one `read`), feeding the reply parser.
    func read() throws(RedisError) {
        guard redisBufferRead(raw) == REDIS_OK else { throw contextError() }
    }

    /// The next complete reply already read, or `nil` when more bytes are needed.
    func nextReply() throws(RedisError) -> RedisValue? {
        var reply: UnsafeMutableRawPointer?
        guard redisGetReplyFromReader(raw, &reply) == REDIS_OK else { throw contextError() }
        guard let reply else { return nil }
        defer { freeReplyObject(reply) }
        return Self.convert(reply.assumingMemoryBound(to: redisReply.self))
    }

    /// The context's current error as a ``RedisError``.
    private func contextError() -> RedisError {
        let reason = String(cString: chiredis_errstr(raw))
        switch raw.pointee.err {
        case REDIS_ERR_EOF: return RedisError(.connectionClosed, "the server closed the connection")
        case REDIS_ERR_PROTOCOL: return RedisError(.protocolError, "protocol error: \(reason)")
        case REDIS_ERR_IO:
            // SO_RCVTIMEO during the blocking handshake surfaces as EAGAIN.
            if reason.contains("temporarily unavailable") {
                return RedisError(.timeout, "the server did not answer in time")
            }
            return RedisError(.io, "I/O error: \(reason)")
        default: return RedisError(.io, reason.isEmpty ? "unknown hiredis error" : reason)
        }
    }

    /// Copies a hiredis reply tree into a ``RedisValue``; the caller frees the C reply.
    static func convert(_ reply: UnsafePointer<redisReply>) -> RedisValue {
        let node = reply.pointee
        switch node.type {
        case REDIS_REPLY_STRING:
            guard let str = node.str else { return .bulk([]) }
            return .bulk(Array(UnsafeRawBufferPointer(start: str, count: node.len)))
        case REDIS_REPLY_STATUS:
            return .status(
                node.str.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: node.len), as: UTF8.self) }
                    ?? ""
            )
        case REDIS_REPLY_ERROR:
            return .error(
                node.str.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: node.len), as: UTF8.self) }
                    ?? ""
            )
        case REDIS_REPLY_INTEGER:
            return .integer(Int64(node.integer))
        case REDIS_REPLY_NIL:
            return .null
        case REDIS_REPLY_ARRAY:
            guard let elements = node.element else { return .array([]) }
            var values: [RedisValue] = []
            values.reserveCapacity(node.elements)
            for index in 0..<node.elements {
                if let element = elements[index] { values.append(convert(element)) } else { values.append(.null) }
            }
            return .array(values)
        default:
            return .error("unknown hiredis reply type \(node.type)")
        }
    }
}
