/// Every way a value can be printed by code that does not know it holds a secret: `dump`, `String(describing:)`
/// (`print`, interpolation), `String(reflecting:)` (`debugPrint`), and a recursive walk of its `Mirror` children
/// (each child's label, description and debug description), as a debugger, a logging library or a crash reporter
/// would do.
public enum Renderings {
    /// The texts, one per rendering (the mirror walk contributes one per child).
    public static func of<T>(_ value: T, maximumDepth: Int = 12) -> [String] {
        var dumped = ""
        dump(value, to: &dumped, maxDepth: maximumDepth)
        var texts = [dumped, String(describing: value), String(reflecting: value)]
        var visited = Set<ObjectIdentifier>()
        walk(value, depth: maximumDepth, into: &texts, visited: &visited)
        return texts
    }

    /// The renderings of `value` that contain `secret` (empty when none does).
    public static func leaking<T>(_ secret: String, in value: T) -> [String] {
        of(value).filter { $0.contains(secret) }
    }

    private static func walk(_ value: Any, depth: Int, into texts: inout [String], visited: inout Set<ObjectIdentifier>)
    {
        guard depth > 0 else { return }
        if type(of: value) is AnyClass {
            let identifier = ObjectIdentifier(value as AnyObject)
            guard visited.insert(identifier).inserted else { return }
        }
        var mirror: Mirror? = Mirror(reflecting: value)
        while let current = mirror {
            for child in current.children {
                texts.append(
                    "\(child.label ?? "_"): \(String(describing: child.value)) \(String(reflecting: child.value))"
                )
                walk(child.value, depth: depth - 1, into: &texts, visited: &visited)
            }
            mirror = current.superclassMirror
        }
    }
}
