import RedisClient

extension ClusterTopology {
    /// Moves `slot` and its keys to the primary on `port`, as `redis-cli --cluster reshard` does:
    /// ``beginMigration(slot:to:timeout:)``, then ``finishMigration(slot:to:timeout:)``. Returns once every
    /// running node reports the new owner; the old one then answers `MOVED` for the slot's keys. Nothing happens
    /// when `port` serves the slot already.
    public func migrate(slot: Int, to port: Int, timeout: Duration = .seconds(30)) async throws(TopologyError) {
        try await beginMigration(slot: slot, to: port, timeout: timeout)
        try await finishMigration(slot: slot, to: port, timeout: timeout)
    }

    /// Starts moving `slot` to the primary on `port`: `CLUSTER SETSLOT <slot> IMPORTING` on it, then `MIGRATING` on
    /// the slot's owner. The keys stay where they are until ``migrateKeys(slot:to:keys:timeout:)`` or
    /// ``finishMigration(slot:to:timeout:)``; meanwhile the owner answers `ASK` for a key of the slot it no longer
    /// has, and the new node serves such a key only after `ASKING`.
    public func beginMigration(slot: Int, to port: Int, timeout: Duration = .seconds(30)) async throws(TopologyError) {
        let (source, target) = try await migrationEnds(slot: slot, to: port, timeout: timeout)
        guard let source else { return }
        let sourceID = try requireID(port: source.port)
        let targetID = try requireID(port: target.port)
        try await send(target, "CLUSTER", "SETSLOT", RedisArgument(slot), "IMPORTING", RedisArgument(sourceID))
        try await send(source, "CLUSTER", "SETSLOT", RedisArgument(slot), "MIGRATING", RedisArgument(targetID))
    }

    /// Moves `keys` of `slot` (each must hash to it) from the slot's owner to the primary on `port` with `MIGRATE`,
    /// during a migration begun with ``beginMigration(slot:to:timeout:)``. A key the owner does not have is
    /// skipped.
    public func migrateKeys(
        slot: Int,
        to port: Int,
        keys: [String],
        timeout: Duration = .seconds(30)
    ) async throws(TopologyError) {
        for key in keys where Self.slot(forKey: key) != slot {
            throw TopologyError("a key given for slot \(slot) hashes to slot \(Self.slot(forKey: key))")
        }
        let (source, target) = try await migrationEnds(slot: slot, to: port, timeout: timeout)
        guard let source else { throw TopologyError("\(port) serves slot \(slot) already") }
        try await moveKeys(keys.map { Array($0.utf8) }, from: source, to: target)
    }

    /// Ends a migration of `slot` to the primary on `port`: moves the keys still on the old owner (`CLUSTER
    /// GETKEYSINSLOT`, `MIGRATE`), then `CLUSTER SETSLOT <slot> NODE` on the new owner, the old one and every other
    /// running primary, and returns once every running node reports the new owner. Begins the migration if it was
    /// not begun; nothing happens when `port` serves the slot already.
    public func finishMigration(slot: Int, to port: Int, timeout: Duration = .seconds(30)) async throws(TopologyError) {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        let (source, target) = try await migrationEnds(slot: slot, to: port, timeout: timeout)
        guard let source else { return }
        let sourceID = try requireID(port: source.port)
        let targetID = try requireID(port: target.port)
        // Idempotent: a migration begun already stays as it is.
        try await send(target, "CLUSTER", "SETSLOT", RedisArgument(slot), "IMPORTING", RedisArgument(sourceID))
        try await send(source, "CLUSTER", "SETSLOT", RedisArgument(slot), "MIGRATING", RedisArgument(targetID))
        while true {
            let reply = try await send(source, "CLUSTER", "GETKEYSINSLOT", RedisArgument(slot), 100)
            let keys = (reply.array ?? []).compactMap(\.bytes)
            if keys.isEmpty { break }
            try await moveKeys(keys, from: source, to: target)
        }
        // The new owner first: it bumps its configuration epoch, so that its claim wins over the old one's.
        let others = try await agreedView(timeout: deadline - .now).shards.map(\.primaryPort).filter {
            $0 != source.port && $0 != target.port
        }
        for node in [target, source] + others.compactMap({ node(port: $0) }) where node.isRunning {
            try await send(node, "CLUSTER", "SETSLOT", RedisArgument(slot), "NODE", RedisArgument(targetID))
        }
        try await TopologyError.wrapping("finishing the migration of slot \(slot)") {
            try await poll("every node reports \(port) serving slot \(slot)", timeout: deadline - .now) {
                () async throws -> Check<Void> in
                for (node, view) in try await liveViews() {
                    let owner = view.owner(ofSlot: slot)
                    guard owner?.port == port else {
                        return .unmet("\(node.port) reports \(owner?.port.description ?? "no node") serving it")
                    }
                }
                return .met(())
            }
        }
    }

    /// The node that serves `slot` (`nil` when it is the one on `port`) and the primary on `port`.
    private func migrationEnds(
        slot: Int,
        to port: Int,
        timeout: Duration
    ) async throws(TopologyError) -> (source: RedisNodeProcess?, target: RedisNodeProcess) {
        guard (0..<HashSlot.count).contains(slot) else { throw TopologyError("slot \(slot) is not in 0...16383") }
        let view = try await agreedView(timeout: timeout)
        guard let owner = view.owner(ofSlot: slot) else { throw TopologyError("no node serves slot \(slot)") }
        guard let line = view.line(port: port), line.isPrimary else {
            throw TopologyError("\(port) is not a primary: \(view.line(port: port)?.description ?? "unknown")")
        }
        let target = try requireNode(port: port)
        guard owner.port != port else { return (nil, target) }
        return (try requireNode(port: owner.port), target)
    }

    /// `MIGRATE 127.0.0.1 <port> "" 0 <timeout> [AUTH <password>] KEYS <keys>` on `source`.
    private func moveKeys(
        _ keys: [[UInt8]],
        from source: RedisNodeProcess,
        to target: RedisNodeProcess
    ) async throws(TopologyError) {
        guard !keys.isEmpty else { return }
        var arguments: [RedisArgument] = ["MIGRATE", "127.0.0.1", RedisArgument(target.port), "", 0, 1500]
        if let password = options.password { arguments += ["AUTH", RedisArgument(password)] }
        arguments += ["KEYS"] + keys.map { RedisArgument($0) }
        try await send(source, arguments)
    }
}
