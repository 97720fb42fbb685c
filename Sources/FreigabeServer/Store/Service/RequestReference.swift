import Foundation

/// How a person names a request: by its id, or by its number (`FG-2026-000042`), which the mails, the
/// pages and a requester's screenshot show. Support and auditors are given the number.
enum RequestReference: Sendable, Hashable {
    case id(UUID)
    case number(String)

    /// A UUID or a number of the form `requests.number` allows; nil for anything else.
    init?(_ text: String) {
        if let id = UUID(uuidString: text) {
            self = .id(id)
        } else if text.wholeMatch(of: /FG-[0-9]{4}-[0-9]{6,12}/) != nil {
            self = .number(text)
        } else {
            return nil
        }
    }

    var id: UUID? {
        if case .id(let id) = self { id } else { nil }
    }

    var number: String? {
        if case .number(let number) = self { number } else { nil }
    }
}
