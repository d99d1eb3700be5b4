extension Check {
    /// The same check with a value of another type when met.
    func map<Other>(_ transform: (Value) -> Other) -> Check<Other> {
        switch self {
        case .met(let value): .met(transform(value))
        case .unmet(let reason): .unmet(reason)
        case .failed(let error): .failed(error)
        }
    }
}
