/// Username and password for SMTP AUTH. Neither `description` nor `debugDescription` shows the
/// password, and neither does its mirror (`dump`, default printing of enclosing types), so
/// printing a configuration or logging it by accident leaks nothing.
public struct SMTPCredentials: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    public var username: String
    public var password: String

    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }

    public var description: String { "SMTPCredentials(username: \(self.username), password: <redacted>)" }
    public var debugDescription: String { self.description }

    public var customMirror: Mirror {
        Mirror(self, children: ["username": self.username, "password": "<redacted>"], displayStyle: .struct)
    }
}
