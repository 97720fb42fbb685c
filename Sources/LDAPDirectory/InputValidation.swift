/// Checks on what people type at the login form, done before anything is sent to the directory.
enum InputValidation {
    static let maximumUsernameLength = 256
    /// Far above any real password; keeps absurd inputs from reaching the directory.
    static let maximumPasswordBytes = 4096

    static func validateUsername(_ username: String) throws(LDAPDirectoryError) {
        guard !username.isEmpty else {
            throw .invalidUsername("it is empty")
        }
        guard username.unicodeScalars.count <= maximumUsernameLength else {
            throw .invalidUsername("it is longer than \(maximumUsernameLength) characters")
        }
        // NUL would truncate C strings; other control characters (and line/paragraph separators)
        // never occur in login names and only serve to confuse filters and logs.
        let forbidden = username.unicodeScalars.contains { scalar in
            switch scalar.properties.generalCategory {
            case .control, .lineSeparator, .paragraphSeparator, .surrogate: true
            default: false
            }
        }
        guard !forbidden else {
            throw .invalidUsername("it contains control characters")
        }
        guard !username.allSatisfy(\.isWhitespace) else {
            throw .invalidUsername("it is empty")
        }
    }

    /// RFC 4513 5.1.2: a simple bind with a DN and an empty password is an "unauthenticated bind" that
    /// many servers answer with success. Whitespace-only passwords are refused for the same reason
    /// (some clients trim), NUL because libldap callers commonly truncate at it.
    static func validatePassword(_ password: String) throws(LDAPDirectoryError) {
        guard !password.isEmpty, !password.allSatisfy(\.isWhitespace) else {
            throw .invalidPassword("it is empty")
        }
        guard !password.utf8.contains(0) else {
            throw .invalidPassword("it contains a NUL character")
        }
        guard password.utf8.count <= maximumPasswordBytes else {
            throw .invalidPassword("it is too long")
        }
    }

    /// Whether the entry's login name equals the typed one, ignoring case but nothing else (no
    /// compatibility folding, so fullwidth or other look-alikes do not match).
    static func usernameMatches(typed: String, stored: String) -> Bool {
        typed.lowercased() == stored.lowercased()
    }
}
