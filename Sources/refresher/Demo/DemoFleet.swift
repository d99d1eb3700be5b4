import Foundation

/// The demo's worker processes, reachable from the signal handler.
///
/// `@unchecked Sendable`: `list` is only touched under `lock`.
final class DemoFleet: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [DemoWorker] = []

    func add(_ worker: DemoWorker) {
        lock.withLock { list.append(worker) }
    }

    var workers: [DemoWorker] { lock.withLock { list } }

    func terminate() {
        for worker in workers { worker.terminate() }
    }
}
