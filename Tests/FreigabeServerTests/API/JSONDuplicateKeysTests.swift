import Foundation
import Testing

@testable import FreigabeServer

@Suite("JSON bodies: duplicate member names")
struct JSONDuplicateKeysTests {
    @Test(
        "The first repeated name is found with its path; names in values, arrays and siblings are no repeats",
        arguments: [
            (#"{"a": 1, "a": 2}"#, "a"),
            (#"{"a": {"b": 1, "c": {"b": 2}, "b": 3}}"#, "a.b"),
            (#"{"list": [{"x": 1}, {"x": 2}], "o": {"x": 1, "y": "x", "x": 0}}"#, "o.x"),
            (#"{"n\u0061me": 1, "name": 2}"#, "name"),
            (#"{"a\"b": 1, "a\"b": 2}"#, "a\"b"),
            (#"{"a": "{\"a\": 1}", "b": 1}"#, nil),
            (#"{"a": [1, "a", {"a": 1}], "b": {"a": 1}}"#, nil),
            (#"[{"a": 1}, {"a": 1}]"#, nil),
            (#"{}"#, nil),
        ] as [(String, String?)])
    func firstDuplicate(json: String, expected: String?) throws {
        // Only text the decoder accepts reaches the scanner.
        _ = try JSONDecoder().decode(JSONValue.self, from: Data(json.utf8))
        #expect(JSONDuplicateKeys.first(in: Array(json.utf8)) == expected)
    }
}
