import Foundation
import RedisTestSupport

#if canImport(FoundationXML)
import FoundationXML
#endif

/// A picture the command wrote: well-formed XML with an `<svg>` root, and the texts it shows.
struct WrittenSVG {
    let texts: [String]
    let polylines: Int

    init(path: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let parser = XMLParser(data: data)
        let collector = Collector()
        parser.delegate = collector
        guard parser.parse() else {
            throw TestSupportError("\(path) is not well-formed XML: \(parser.parserError.map { "\($0)" } ?? "?")")
        }
        guard collector.root == "svg" else { throw TestSupportError("\(path): root <\(collector.root ?? "")>") }
        texts = collector.texts
        polylines = collector.polylines
    }

    /// Whether some text element contains `fragment`.
    func shows(_ fragment: String) -> Bool { texts.contains { $0.contains(fragment) } }

    private final class Collector: NSObject, XMLParserDelegate {
        var root: String?
        var texts: [String] = []
        var polylines = 0
        private var inText = false

        func parser(
            _ parser: XMLParser,
            didStartElement name: String,
            namespaceURI: String?,
            qualifiedName: String?,
            attributes: [String: String] = [:]
        ) {
            if root == nil { root = name }
            if name == "polyline" { polylines += 1 }
            if name == "text" {
                inText = true
                texts.append("")
            }
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            if inText { texts[texts.count - 1] += string }
        }

        func parser(
            _ parser: XMLParser,
            didEndElement name: String,
            namespaceURI: String?,
            qualifiedName: String?
        ) {
            if name == "text" { inText = false }
        }
    }
}
