/// The metadata keys this module logs under, spelled once (postgres-nio's `Logging+PSQL.swift`).
enum SMTPLogKey {
    /// `host:port` of the server, on every line of a client.
    static let server = "smtp.server"
    /// A command as sent, AUTH payloads redacted.
    static let command = "smtp.command"
    /// The code of a server reply.
    static let reply = "smtp.reply"
    /// The size of a message's content as sent after DATA.
    static let octets = "smtp.octets"
    /// An ``SMTPError``'s `debugDescription`.
    static let error = "smtp.error"
    static let messages = "smtp.messages"
    static let delivered = "smtp.delivered"
}
