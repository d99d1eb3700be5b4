extension RedisNodeProcess {
    /// The configuration file of a node: loopback only, in the foreground, files in `directory`, no persistence; a
    /// full resynchronisation starts at once rather than after the default 5 s wait for more replicas, so that a
    /// replica (and a demoted primary) catches up in milliseconds.
    static func configurationText(
        mode: Mode,
        port: Int,
        directory: String,
        password: String?,
        extra: [String]
    ) -> String {
        var lines = [
            "port \(port)",
            "bind 127.0.0.1",
            "protected-mode no",
            "daemonize no",
            "dir \(quoted(directory))",
        ]
        switch mode {
        case .server:
            lines += [
                "loglevel warning",
                "save \"\"",
                "appendonly no",
                // Nodes may share a directory: each its own snapshot file (written by a full resynchronisation).
                "dbfilename dump-\(port).rdb",
                "repl-diskless-sync-delay 0",
                // `LATENCY LATEST` then names what stalled a node (an fsync, a slow command) long enough for the
                // sentinels to see it down.
                "latency-monitor-threshold 100",
            ]
            if let password { lines += ["requirepass \(quoted(password))", "masterauth \(quoted(password))"] }
        case .sentinel:
            // Notice level: the sentinel's events (+sdown, +switch-master, +convert-to-slave) explain a failed wait.
            lines += ["loglevel notice"]
            if let password { lines += ["requirepass \(quoted(password))"] }
        }
        return (lines + extra).joined(separator: "\n") + "\n"
    }

    /// `text` as one argument of a configuration line: in double quotes, with backslash escapes for quotes and
    /// backslashes and `\xHH` for every byte outside printable ASCII (Redis's `sdssplitargs` reads them back).
    static func quoted(_ text: String) -> String {
        var quoted = "\""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                quoted += "\\" + String(UnicodeScalar(byte))
            case 32..<127:
                quoted.unicodeScalars.append(UnicodeScalar(byte))
            default:
                quoted += "\\x" + (byte < 16 ? "0" : "") + String(byte, radix: 16)
            }
        }
        return quoted + "\""
    }
}
