/// One `Set-Cookie` header (RFC 6265 §5.2), as much of it as a session refresh needs: name, value, and when it
/// expires (`Max-Age` wins over `Expires`).
struct SetCookie: Sendable, Equatable {
    var name: String
    var value: String
    /// Seconds from now, from `Max-Age`.
    var maxAge: Int64?
    /// Milliseconds since the Unix epoch, from `Expires`.
    var expiresAtMilliseconds: Int64?

    /// Parses one header value; `nil` when it has no `name=value` pair.
    init?(header: String) {
        let parts = header.split(separator: ";", omittingEmptySubsequences: false)
        guard let pair = parts.first, let equals = pair.firstIndex(of: "=") else { return nil }
        name = pair[..<equals].trimmingSpaces
        var value = pair[pair.index(after: equals)...].trimmingSpaces
        if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") {
            value = String(value.dropFirst().dropLast())
        }
        self.value = value
        guard !name.isEmpty else { return nil }
        for attribute in parts.dropFirst() {
            let pieces = attribute.split(separator: "=", maxSplits: 1).map { $0.trimmingSpaces }
            guard let key = pieces.first?.lowercased(), pieces.count == 2 else { continue }
            switch key {
            case "max-age": maxAge = Int64(pieces[1])
            case "expires": expiresAtMilliseconds = Self.parseHTTPDate(pieces[1])
            default: break
            }
        }
    }

    /// When the cookie expires, in milliseconds since the Unix epoch, if it says: a `Max-Age` of zero or less is now
    /// (RFC 6265: the cookie is already expired), one over ten years counts as ten years; `Expires` as it is, also
    /// when it is past.
    func expiry(nowMilliseconds: Int64) -> Int64? {
        if let maxAge { return nowMilliseconds + min(max(maxAge, 0), Self.longestMaxAge) * 1000 }
        return expiresAtMilliseconds
    }

    /// The longest `Max-Age` taken as it is, in seconds (ten years); it also keeps the arithmetic from overflowing.
    static let longestMaxAge: Int64 = 10 * 366 * 86_400

    /// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form RFC 6265 servers send; also with `-` between the
    /// date's parts. `nil` for anything else.
    static func parseHTTPDate(_ text: String) -> Int64? {
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "-" || $0 == "," }).map(String.init)
        guard fields.count >= 5 else { return nil }
        // Skip the weekday when present.
        let rest = Int(fields[0]) == nil ? Array(fields.dropFirst()) : fields
        let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        guard rest.count >= 4, let day = Int(rest[0]), let monthIndex = months.firstIndex(of: rest[1].lowercased()),
            var year = Int(rest[2])
        else { return nil }
        if (0..<100).contains(year) { year += year < 70 ? 2000 : 1900 }
        // RFC 6265 §5.1.1: years before 1601 fail; past 9999 is no date a server means (and would overflow).
        guard (1601...9999).contains(year) else { return nil }
        let time = rest[3].split(separator: ":").compactMap { Int($0) }
        guard time.count == 3, (1...31).contains(day), (0...23).contains(time[0]), (0...59).contains(time[1]),
            (0...60).contains(time[2])
        else { return nil }
        let days = daysFromCivil(year: year, month: monthIndex + 1, day: day)
        return (Int64(days) * 86_400 + Int64(time[0] * 3600 + time[1] * 60 + time[2])) * 1000
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
