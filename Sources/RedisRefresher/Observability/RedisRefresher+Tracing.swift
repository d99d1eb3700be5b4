import Tracing

/// The spans of ``RefresherSpanNames``: started only when a flight waits for another worker or holds the lock, so
/// reads from memory cost nothing; with a no-op tracer, attributes are not even computed.
extension RedisRefresher {
    private typealias Attribute = RefresherSpanNames.Attribute
    private typealias Outcome = RefresherSpanNames.Outcome

    /// The tracer given at construction, else the one active for the current task (scoped with `withTracer`, or
    /// bootstrapped), resolved per span so that a caller's scope is honoured.
    private var activeTracer: any Tracer { tracer ?? InstrumentationSystem.tracer }

    /// Starts the wait span of a flight after `generation` whose check found `holder`'s lock.
    func startWaitSpan(after generation: Int64, holder: String) -> any Span {
        let span = activeTracer.startSpan(RefresherSpanNames.wait, ofKind: .internal)
        if span.isRecording {
            span.attributes[Attribute.session] = session.rawValue
            span.attributes[Attribute.generationBefore] = generation
            span.attributes[Attribute.lockOwner] = holder
        }
        return span
    }

    /// Updates the holder a wait span waits for (another worker may take an expired lock over).
    func noteHolder(_ holder: String, on span: any Span) {
        if span.isRecording { span.attributes[Attribute.lockOwner] = holder }
    }

    /// Ends a wait span because this process took the lock (a refresh span follows).
    func endWaitSpanWithLock(_ span: any Span, checks: Int) {
        guard span.isRecording else { return span.end() }
        span.attributes[Attribute.outcome] = Outcome.lockAcquired.rawValue
        span.attributes[Attribute.checks] = checks
        span.end()
    }

    /// Ends a wait span with what its flight delivered to the callers; `abandonedBy` tells why a flight that every
    /// caller left was given up.
    func endWaitSpan(
        _ span: any Span,
        result: Result<Credentials, RefresherError>?,
        abandonedBy: Flight.Wake?,
        checks: Int,
        wokenBy: RefresherMetrics.Wake?
    ) {
        guard span.isRecording else { return span.end() }
        span.attributes[Attribute.checks] = checks
        if let wokenBy { span.attributes[Attribute.wokenBy] = wokenBy == .pubSub ? "pubsub" : "poll" }
        switch (abandonedBy, result) {
        case (.timedOut, _):
            span.attributes[Attribute.outcome] = Outcome.timeout.rawValue
            record(RefresherError(.timeout, "every waiting caller's deadline passed"), on: span)
        case (.cancelled, _):
            span.attributes[Attribute.outcome] = Outcome.cancelled.rawValue
        case (_, .some(.success(let credentials))):
            span.attributes[Attribute.outcome] = Outcome.refreshed.rawValue
            span.attributes[Attribute.generationAfter] = credentials.generation
        case (_, .some(.failure(let error))):
            span.attributes[Attribute.outcome] = Self.outcome(of: error).rawValue
            record(error, on: span)
        case (_, .none):
            break
        }
        span.end()
    }

    /// Starts the refresh span of a holder that took the lock after `current`.
    func startRefreshSpan(after current: Credentials, acquisition: String, tookOver: Bool) -> any Span {
        let span = activeTracer.startSpan(RefresherSpanNames.refresh, ofKind: .internal)
        if span.isRecording {
            span.attributes[Attribute.session] = session.rawValue
            span.attributes[Attribute.generationBefore] = current.generation
            span.attributes[Attribute.lockOwner] = acquisition
            span.attributes[Attribute.tookOver] = tookOver
            span.attributes[Attribute.attempts] = 0
        }
        return span
    }

    /// Ends a refresh span with the holder's result.
    func endRefreshSpan(_ span: any Span, result: Result<Credentials, RefresherError>, acquisition: String) {
        guard span.isRecording else { return span.end() }
        switch result {
        case .success(let credentials):
            let outcome: Outcome = credentials.refreshedBy == acquisition ? .refreshed : .superseded
            span.attributes[Attribute.outcome] = outcome.rawValue
            span.attributes[Attribute.generationAfter] = credentials.generation
        case .failure(let error):
            span.attributes[Attribute.outcome] = Self.outcome(of: error).rawValue
            record(error, on: span)
        }
        span.end()
    }

    /// Counts an attempt on a refresh span.
    func noteAttempt(_ attempt: Int, on span: any Span) {
        if span.isRecording { span.attributes[Attribute.attempts] = attempt }
    }

    /// Notes on a refresh span that an attempt failed with `outcome` and the holder tries again.
    func noteRetry(on span: any Span, outcome: RefreshFailure.Outcome, attempt: Int) {
        guard span.isRecording else { return }
        span.addEvent(
            SpanEvent(
                name: RefresherSpanNames.retryEvent,
                attributes: [Attribute.outcome: .string(outcome.rawValue), Attribute.attempts: .int64(Int64(attempt))]
            )
        )
    }

    /// Records a refresher error (its message never holds a token) as the span's error and status.
    private func record(_ error: RefresherError, on span: any Span) {
        span.attributes[Attribute.errorType] = error.code.description
        span.recordError(error)
        span.setStatus(SpanStatus(code: .error, message: error.code.description))
    }

    /// The outcome callers with `error` see.
    private static func outcome(of error: RefresherError) -> Outcome {
        switch error.code {
        case .reloginRequired: .rejected
        case .refreshFailed: .notProcessed
        case .outcomeUnknown: .unknown
        case .timeout: .timeout
        case .cancelled: .cancelled
        default: .error
        }
    }
}
