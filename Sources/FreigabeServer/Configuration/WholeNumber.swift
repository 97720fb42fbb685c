extension FixedWidthInteger {
    /// A whole number in `range`, written in ASCII digits only, as a setting, a query parameter, a header
    /// or a cursor gives it: `Int(_:)` alone also takes `+5`, and whoever wrote it would not learn that it
    /// is not what we document.
    init?(digits text: some StringProtocol, in range: ClosedRange<Self>) {
        guard (1...20).contains(text.count), text.allSatisfy({ $0.isASCII && $0.isNumber }),
            let number = Self(text, radix: 10), range.contains(number)
        else { return nil }
        self = number
    }
}
