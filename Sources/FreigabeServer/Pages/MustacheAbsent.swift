import Mustache

/// What a ``MustacheParent`` answers for a value it does not have: an empty section and empty text.
///
/// Not nil: Mustache takes a nil child for "no such name here" and looks the name up in the enclosing
/// contexts, where the page may have a value of that name (a row's missing deadline would show the
/// page's). And not the `Optional` itself boxed in `Any`: a section takes that for a value and `{{.}}`
/// prints "nil" (every timeline entry without a reason, every inbox row that was not overdue).
struct MustacheAbsent: MustacheCustomRenderable {
    var renderText: String { "" }
    var isNull: Bool { true }
}

extension Optional {
    /// The wrapped value for Mustache, or ``MustacheAbsent`` when there is none.
    var mustacheValue: Any { map { $0 as Any } ?? MustacheAbsent() }
}
