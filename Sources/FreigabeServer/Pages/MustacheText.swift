import Mustache

/// A text renders as itself, through swift-mustache's `MustacheCustomRenderable`.
///
/// Why: for a value without it, swift-mustache tries it as a lambda and as an optional, then makes the
/// text with `String(describing:)`, which checks it against further protocols: several dynamic casts on
/// each of the hundreds of `{{name}}` of a page, the largest part of rendering after the lookup itself
/// (`make bench-web`'s profile: casts 13–15 % of the server's CPU). With the conformance the first
/// protocol cast finds the text. The output is the same (`String(describing:)` of a text is the text;
/// `isNull` is false, as a present text was); `MustacheTextTests` compares both paths.
extension String: @retroactive MustacheCustomRenderable {
    public var renderText: String { self }
    /// A present text is never null, as before (an empty text too).
    public var isNull: Bool { false }
}
