import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A directory only this user can read (`mkdtemp`, mode 0700), for configuration files that hold passwords and that
/// Redis rewrites, and for the files replication writes.
struct PrivateDirectory: Sendable {
    let path: String

    /// Creates a fresh directory under the system's temporary directory.
    init(prefix: String) throws(TopologyError) {
        let base = FileManager.default.temporaryDirectory.path
        var template = Array("\(base)/\(prefix).XXXXXX".utf8CString)
        guard let created = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw TopologyError("mkdtemp failed under \(base): errno \(errno)")
        }
        path = String(cString: created)
    }

    /// A directory that exists already, which the caller owns.
    init(existing path: String) {
        self.path = path
    }

    /// Writes `text` to the file `name` in the directory, readable and writable by this user only; the file's path.
    func write(_ text: String, to name: String) throws(TopologyError) -> String {
        let file = "\(path)/\(name)"
        guard
            FileManager.default.createFile(
                atPath: file,
                contents: Data(text.utf8),
                attributes: [.posixPermissions: 0o600]
            )
        else { throw TopologyError("cannot write \(file)") }
        return file
    }

    /// Deletes the directory and everything in it.
    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}
