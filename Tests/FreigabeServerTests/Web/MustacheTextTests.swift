import Foundation
import Mustache
import Testing

@testable import FreigabeServer

/// A `String` renders through `MustacheCustomRenderable` (`MustacheText.swift`): the same bytes as
/// swift-mustache's own path, which a `Substring` (without the conformance) still takes.
@Suite("Web: texts render as themselves")
struct MustacheTextTests {
    static let values = [
        "", " ", "Straßenbäume – 2. März, 09:30 Uhr", "<script>alert(\"x\")</script> & 'y'", "\"\u{301} onfocus=x",
        "{{t.web.inbox.title}}", "nil", "Optional(\"x\")",
    ]

    static let template = [
        TextsWrittenIn.htmlHeader,
        #"<p title="{{value}}">{{value}}|{{{value}}}|{{&value}}</p>"#,
        "{{#value}}[{{.}}]{{/value}}{{^value}}(none){{/value}}",
        "{{#missing}}x{{/missing}}{{^missing}}(missing){{/missing}}",
        "{{#present}}<b>{{.}}</b>{{/present}}{{^present}}(nil){{/present}}",
    ].joined(separator: "\n")

    @Test("hostile and empty texts, escaped and not, in sections and inverted sections: the same bytes")
    func rendersAsTheOtherPathDid() throws {
        HTMLEscaping.register()
        let template = try MustacheTemplate(string: Self.template)
        for value in Self.values {
            let optional: String? = value.isEmpty ? nil : value
            let asString = template.render(["value": value, "present": optional as Any] as [String: Any])
            let asSubstring = template.render(
                ["value": value[...], "present": optional.map { $0[...] } as Any] as [String: Any])
            #expect(asString == asSubstring, "\(value)")
            #expect(asString.contains("[" + HTMLEscaping.escape(value) + "]"), "\(asString)")
            #expect(!asString.contains("<script>") || value.contains("<script>"), "only the unescaped tags copy it")
        }
    }

    @Test("the conformance is what a page's texts take: a text is its own rendering, never null")
    func textIsItsOwnRendering() {
        let text: Any = "<b>"
        let renderable = text as? MustacheCustomRenderable
        #expect(renderable?.renderText == "<b>")
        #expect(renderable?.isNull == false)
        #expect(("" as Any as? MustacheCustomRenderable)?.isNull == false, "an empty text is present, as before")
    }
}
