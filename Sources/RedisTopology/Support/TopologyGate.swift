import Synchronization

/// Lets one scoped topology run at a time in a process (``SentinelTopology/with(_:timeout:isolation:_:)`` and
/// ``ClusterTopology/with(_:timeout:isolation:_:)``).
///
/// A topology is up to seven `redis-server` processes, and its tests start fleets of workers against it: on a 2-core
/// machine two of them at once, beside the rest of a test run, starve each other's timers (failure detection, lock
/// TTLs, deadlines). Topologies then queue here, first come first served. A `with` must not start another inside its
/// body: it would wait for itself.
enum TopologyGate {
    private struct State {
        var busy = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private static let state = Mutex(State())

    /// Waits for the gate.
    static func enter() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                guard state.busy else {
                    state.busy = true
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// Lets the next waiter in.
    static func leave() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.waiters.isEmpty else {
                state.busy = false
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }
}

extension TopologyGate {
    /// Waits for the gate, starts a topology, runs `body` with it, and shuts it down whatever happens: the body of
    /// both topologies' scoped `with`.
    static func scoped<Topology, T>(
        start: () async throws -> Topology,
        shutdown: (Topology) async -> Void,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (Topology) async throws -> T
    ) async throws -> T {
        await enter()
        defer { leave() }
        let topology = try await start()
        do {
            let result = try await body(topology)
            await shutdown(topology)
            return result
        } catch {
            await shutdown(topology)
            throw error
        }
    }
}
