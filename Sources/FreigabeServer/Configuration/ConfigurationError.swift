/// A configuration problem found while starting the server.
///
/// Shaped like PostgresNIO's `PSQLError`: a `code` to switch on, a `description` that is safe to
/// show to the operator (German, names the setting and where it can be set, never contains a secret)
/// and `details` for the log (the underlying error, which may be technical).
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    /// What kind of problem it is.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case invalidValue
            case unreadableConfigFile
            case invalidTemplates
            case invalidStrings
            case invalidWorkflows
        }

        private let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// A setting has a value that cannot be used (not a number, out of range, unknown name).
        public static let invalidValue = Code(.invalidValue)
        /// The configuration file named by `config.file` is missing or not valid YAML.
        public static let unreadableConfigFile = Code(.unreadableConfigFile)
        /// The templates directory is missing or a Mustache template does not parse.
        public static let invalidTemplates = Code(.invalidTemplates)
        /// A strings file (`Templates/strings/*.yaml`) is missing or malformed.
        public static let invalidStrings = Code(.invalidStrings)
        /// The workflows directory is missing, empty, or a definition in it is invalid.
        public static let invalidWorkflows = Code(.invalidWorkflows)

        public var description: String { base.rawValue }
    }

    /// What kind of problem it is.
    public var code: Code
    /// The configuration key concerned (`http.port`), if the problem is about one setting.
    public var key: String?
    /// A message safe to show to the operator.
    public var description: String
    /// Technical details for the log, e.g. the underlying parser error.
    public var details: String?

    public init(code: Code, key: String? = nil, description: String, details: String? = nil) {
        self.code = code
        self.key = key
        self.description = description
        self.details = details
    }
}
