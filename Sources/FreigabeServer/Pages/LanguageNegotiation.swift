/// Picks the page language from an `Accept-Language` header (RFC 9110, section 12.5.4).
///
/// Only the primary subtag counts (`de-AT` → `de`): we have one German and one English text each.
/// The header's order breaks ties between equal weights; anything unknown or unparsable falls back
/// to the default, German.
public struct LanguageNegotiation: Sendable {
    /// Languages we have texts for, in order of preference when the client has none.
    public let supported: [String]
    /// Language used when nothing in the header matches.
    public let defaultLanguage: String

    public init(supported: [String], defaultLanguage: String = "de") {
        self.supported = supported
        self.defaultLanguage = defaultLanguage
    }

    /// The best supported language for the header value, or ``defaultLanguage``. `*` stands for every
    /// language the header does not name (RFC 9110), and one given with `q=0` is refused: `de;q=0, *` is
    /// English.
    public func language(forAcceptLanguage header: String?) -> String {
        guard let header else { return defaultLanguage }
        let ranges: [(primary: String, weight: Double)] = header.split(separator: ",").compactMap { range in
            let parts = range.split(separator: ";").map { $0.trimmingWhitespace() }
            guard let tag = parts.first?.lowercased(), !tag.isEmpty else { return nil }
            let weight = parts.dropFirst().lazy.compactMap(Self.weight(from:)).first ?? 1
            return (tag == "*" ? "*" : String(tag.prefix { $0 != "-" }), weight)
        }
        let named = Set(ranges.map(\.primary))
        let refused = Set(ranges.filter { $0.weight <= 0 }.map(\.primary))
        let unnamed = ([defaultLanguage] + supported).first { !named.contains($0) }
        var best: (language: String, weight: Double)?
        for range in ranges where range.weight > 0 {
            guard let primary = range.primary == "*" ? unnamed : range.primary,
                supported.contains(primary), !refused.contains(primary)
            else { continue }
            if range.weight > best?.weight ?? 0 {
                best = (primary, range.weight)
            }
        }
        if let best { return best.language }
        // Nothing acceptable named: the default, unless refused while another is not.
        return refused.contains(defaultLanguage)
            ? supported.first { !refused.contains($0) } ?? defaultLanguage : defaultLanguage
    }

    /// `q=0.8` → 0.8; other parameters → nil.
    private static func weight(from parameter: String) -> Double? {
        let pair = parameter.split(separator: "=", maxSplits: 1)
        guard pair.count == 2, pair[0].trimmingWhitespace().lowercased() == "q" else { return nil }
        return Double(pair[1].trimmingWhitespace())
    }
}

extension Substring {
    fileprivate func trimmingWhitespace() -> String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
