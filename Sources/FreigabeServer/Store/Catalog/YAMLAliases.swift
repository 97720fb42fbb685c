import CYaml

/// Finds aliases (`*name`) in a YAML text with libyaml's event parser, which neither builds nodes nor
/// follows aliases, so a text made to expand (see ``CatalogParser``) costs what its bytes cost.
enum YAMLAliases {
    struct Alias: Equatable {
        var name: String
        /// 1-based, as problems are reported.
        var line: Int
    }

    /// The first alias, or nil when there is none, or when the text is no YAML before one (Yams' own
    /// parser then reports the error with its line).
    static func first(in text: String) -> Alias? {
        guard !text.isEmpty else { return nil }
        // On the heap: libyaml keeps a pointer to the parser in the parser (its read handler's data),
        // so it must not move between the calls.
        let parser = UnsafeMutablePointer<yaml_parser_t>.allocate(capacity: 1)
        defer { parser.deallocate() }
        guard yaml_parser_initialize(parser) == 1 else { return nil }
        defer { yaml_parser_delete(parser) }
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBufferPointer { buffer -> Alias? in
            yaml_parser_set_input_string(parser, buffer.baseAddress, buffer.count)
            var event = yaml_event_t()
            while yaml_parser_parse(parser, &event) == 1 {
                defer { yaml_event_delete(&event) }
                switch event.type {
                case YAML_ALIAS_EVENT:
                    let name = event.data.alias.anchor.map { String(cString: $0) } ?? ""
                    return Alias(name: name, line: Int(event.start_mark.line) + 1)
                case YAML_STREAM_END_EVENT:
                    return nil
                default:
                    continue
                }
            }
            return nil
        }
    }
}
