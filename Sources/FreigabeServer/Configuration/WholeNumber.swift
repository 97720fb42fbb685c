extension Int {
    /// A whole number in `range`, written in ASCII digits only (at most 18 of them), as a setting, a query
    /// parameter or a header gives it: `Int(_:)` alone also takes `+5`, and whoever wrote it would not
    /// learn that it is not what we document.
    init?(digits text: some StringProtocol, in range: ClosedRange<Int>) {
        guard (1...18).contains(text.count), text.allSatisfy({ $0.isASCII && $0.isNumber }), let number = Int(text),
            range.contains(number)
        else { return nil }
        self = number
    }
}
