import Foundation
import Mustache

/// One field of a page's form as the `partials/field` template draws it: label, hint, value, the error
/// next to it and the link target of the error summary. Field names are the API's (dots for nesting),
/// so the field errors of the shared readers and the service land on the right field.
struct FormField {
    struct Option {
        var value: String
        var label: String
        var selected: Bool
        var id: String
    }

    enum Control {
        case text, textarea, date, select, radios, url, password
    }

    var name: String
    var id: String
    var label: String
    var hint: String?
    var value: String
    var error: String?
    var required: Bool
    var options: [Option] = []
    // One flag per control, as Mustache has no comparisons.
    var isText = false
    var isTextarea = false
    var isDate = false
    var isSelect = false
    var isRadios = false
    var isURL = false
    var isPassword = false
    /// `aria-describedby`: the hint and the error, when present.
    var describedBy: String?

    init(
        _ control: Control, name: String, label: String, hint: String? = nil, value: String?,
        error: String? = nil, required: Bool = false, options: [(value: String, label: String)] = []
    ) {
        self.name = name
        self.id = FormField.id(for: name)
        self.label = label
        self.hint = hint
        self.value = value ?? ""
        self.error = error
        self.required = required
        self.options = options.map {
            Option(
                value: $0.value, label: $0.label, selected: $0.value == (value ?? ""),
                id: FormField.id(for: name) + "-" + FormField.id(for: $0.value))
        }
        switch control {
        case .text: isText = true
        case .textarea: isTextarea = true
        case .date: isDate = true
        case .select: isSelect = true
        case .radios: isRadios = true
        case .url: isURL = true
        case .password: isPassword = true
        }
        let described = [hint.map { _ in id + "-hint" }, error.map { _ in id + "-error" }].compactMap { $0 }
        describedBy = described.isEmpty ? nil : described.joined(separator: " ")
    }

    /// `recipient.name` → `f-recipient-name`: a valid, stable HTML id.
    static func id(for name: String) -> String {
        "f-" + String(name.map { $0.isLetter || $0.isNumber ? $0 : "-" })
    }
}

/// The error summary at the top of a form: every error, linked to its field.
struct ErrorSummary {
    struct Entry {
        var href: String
        var message: String
    }

    var entries: [Entry]
    /// Stored: Mustache reads only stored properties.
    var hasErrors: Bool

    /// From the form's fields (in their order), plus errors of fields the form does not show.
    init(fields: [FormField], errors: [String: String]) {
        // A message several fields share (the Open Data check's reasons) names its field: five equal
        // links would not say which one is meant.
        var seen: [String: Int] = [:]
        for field in fields { if let error = field.error { seen[error, default: 0] += 1 } }
        var entries = fields.compactMap { field in
            field.error.map { error in
                Entry(href: "#" + field.id, message: seen[error, default: 0] > 1 ? field.label + ": " + error : error)
            }
        }
        let shown = Set(fields.map(\.name))
        for (name, message) in errors.sorted(by: { $0.key < $1.key }) where !shown.contains(name) {
            // A field the form does not show (e.g. a nested answer): the message still appears.
            if !fields.contains(where: { name.hasPrefix($0.name + ".") }) {
                entries.append(Entry(href: "#form-errors", message: message))
            }
        }
        self.entries = entries
        hasErrors = !entries.isEmpty
    }
}

// Form parts answer Mustache by name instead of by `Mirror` reflection, with `Mirror`'s meaning of a nil
// optional (not found: the name is looked up further out, e.g. an option's `name` is its field's).

extension FormField: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "name": self.name
        case "id": id
        case "label": label
        case "hint": hint
        case "value": value
        case "error": error
        case "required": required
        case "options": options
        case "isText": isText
        case "isTextarea": isTextarea
        case "isDate": isDate
        case "isSelect": isSelect
        case "isRadios": isRadios
        case "isURL": isURL
        case "isPassword": isPassword
        case "describedBy": describedBy
        default: nil
        }
    }
}

extension FormField.Option: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "value": value
        case "label": label
        case "selected": selected
        case "id": id
        default: nil
        }
    }
}

extension ErrorSummary: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "entries": entries
        case "hasErrors": hasErrors
        default: nil
        }
    }
}

extension ErrorSummary.Entry: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "href": href
        case "message": message
        default: nil
        }
    }
}
