import Foundation
import Synchronization

/// The demo's worker processes, reachable from the signal handler.
final class DemoFleet: Sendable {
    private let list = Mutex<[DemoWorker]>([])

    func add(_ worker: DemoWorker) {
        list.withLock { $0.append(worker) }
    }

    var workers: [DemoWorker] { list.withLock { $0 } }

    /// Forwards `signal` to every worker.
    func send(_ signal: Int32) {
        for worker in workers { worker.send(signal) }
    }
}
