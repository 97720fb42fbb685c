/// Active Directory's ranged retrieval of large multi-valued attributes ([MS-ADTS] 3.1.1.3.1.3.3).
///
/// A domain controller returns at most `MaxValRange` values (1,500 by default) of an attribute such as
/// `member` in one answer, and then names the attribute with the range it holds: asked for `member` of
/// a group with 4,000 members it answers `member;range=0-1499`, and nothing under `member`. The client asks
/// for `member;range=1500-*` next, and so on until a range ends in `*`. Without following the ranges a
/// big group's members would look like none at all, and a step held by that group would mail nobody.
struct AttributeRange: Sendable, Hashable {
    /// The attribute's name without options, lowercased (`member`).
    var attribute: String
    /// The first value's index in the whole attribute.
    var low: Int
    /// The last value's index, or nil when this range is the last one (`*`).
    var high: Int?

    /// Parses an attribute description with a range option, `member;range=0-1499` or `member;range=1500-*`;
    /// nil for a description without one, or with one that is not two ordered numbers.
    init?(description: String) {
        let parts = description.lowercased().split(separator: ";", omittingEmptySubsequences: false)
        guard parts.count >= 2, let name = parts.first, !name.isEmpty,
            let option = parts.dropFirst().first(where: { $0.hasPrefix("range=") })
        else { return nil }
        let bounds = option.dropFirst("range=".count).split(separator: "-", omittingEmptySubsequences: false)
        guard bounds.count == 2, let low = Self.index(bounds[0]) else { return nil }
        if bounds[1] == "*" {
            self.init(attribute: String(name), low: low, high: nil)
        } else {
            guard let high = Self.index(bounds[1]), high >= low else { return nil }
            self.init(attribute: String(name), low: low, high: high)
        }
    }

    init(attribute: String, low: Int, high: Int?) {
        self.attribute = attribute
        self.low = low
        self.high = high
    }

    /// Digits only (no sign, no blanks), at most 9 of them: an index a directory can have.
    private static func index(_ text: Substring) -> Int? {
        guard (1...9).contains(text.count), text.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(text)
    }
}

/// The values of an entry's ranged attributes, collected range by range.
///
/// Pure: the caller fetches (``LDAPConnection/readEntry(_:attributes:)``), this decides what to ask next
/// and refuses what a directory must not answer (a range that does not start where the last one ended,
/// an answer without the asked range, more rounds than any directory needs).
struct RangedValues: Sendable {
    /// At most this many follow-up answers per entry: 2,000 ranges of 1,500 are 3 million values.
    static let maximumRounds = 2000

    private(set) var entry: LDAPEntry
    /// The attributes still unfinished, by name, with the index of the next value to ask for.
    private var pending: [String: Int] = [:]
    private var rounds = 0

    /// Starts from the first answer: ranged attributes are filed under their plain name.
    init(first: LDAPEntry) {
        var plain: [String: [String]] = [:]
        for (description, values) in first.attributes {
            if let range = AttributeRange(description: description) {
                plain[range.attribute, default: []].append(contentsOf: values)
                if let high = range.high { pending[range.attribute] = high + 1 }
            } else {
                plain[description, default: []].append(contentsOf: values)
            }
        }
        self.entry = LDAPEntry(dn: first.dn, attributes: plain)
    }

    /// What to ask for next: one request per unfinished attribute, by name.
    private var nextRequests: [(attribute: String, description: String)] {
        pending.sorted { $0.key < $1.key }.map { ($0.key, "\($0.key);range=\($0.value)-*") }
    }

    private var isComplete: Bool { pending.isEmpty }

    /// `first` with each ranged attribute read to its end: `fetch` is asked for every next range (an
    /// attribute description such as `member;range=1500-*`) and answers with the entry it read.
    static func complete(
        _ first: LDAPEntry, fetch: (_ description: String) throws(LDAPDirectoryError) -> LDAPEntry?
    ) throws(LDAPDirectoryError) -> LDAPEntry {
        var values = RangedValues(first: first)
        while !values.isComplete {
            for (attribute, description) in values.nextRequests {
                try values.add(try fetch(description), for: attribute)
            }
        }
        return values.entry
    }

    /// Adds the answer to the request for `attribute`'s next range.
    private mutating func add(_ answer: LDAPEntry?, for attribute: String) throws(LDAPDirectoryError) {
        guard let expected = pending[attribute] else { return }
        rounds += 1
        guard rounds <= Self.maximumRounds else {
            throw Self.refusal("more than \(Self.maximumRounds) ranges of \(attribute) in \(entry.dn)")
        }
        let ranges = (answer?.attributes ?? [:]).compactMap { description, values in
            AttributeRange(description: description).flatMap { $0.attribute == attribute ? ($0, values) : nil }
        }
        guard ranges.count == 1, let (range, values) = ranges.first, range.low == expected else {
            throw Self.refusal("the directory answered \(attribute) from \(expected) of \(entry.dn) out of order")
        }
        entry.attributes[attribute, default: []].append(contentsOf: values)
        if let high = range.high {
            pending[attribute] = high + 1
        } else {
            pending[attribute] = nil
        }
    }

    private static func refusal(_ details: String) -> LDAPDirectoryError {
        LDAPDirectoryError(
            code: .operationFailed, message: "The directory's answer could not be read.", details: details)
    }
}
