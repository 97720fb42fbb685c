import Configuration
import Foundation
import Logging
import PostgresNIO
import SMTPClient

/// `freigabe outbox list [--failed]`, `freigabe outbox retry ID` and `freigabe mail test ADDRESS`: what
/// an operator looks at when mail does not arrive. The outbox commands connect as the application
/// role with the `FREIGABE_DB_*` settings, `mail test` uses the server's `smtp.*` and `mail.*` settings.
public enum OutboxTool {
    private static let logger: Logger = {
        var logger = Logger(label: "freigabe.outbox")
        logger.logLevel = .warning
        return logger
    }()

    /// Pending mail rows (oldest first), or with `failed` those someone will never get; then the
    /// webhook deliveries in the same sense. With `request` (its id or number): every mail row of that
    /// request, sent ones too, with whom each reached.
    public static func list(
        failed: Bool, request: String? = nil, limit: Int = 100, environment: [String: String]
    ) async -> ToolOutput {
        let named: RequestOption?
        switch RequestOption.read(request, besides: ("--failed", failed)) {
        case .success(let read): named = read
        case .failure(let refusal): return refusal.output
        }
        return await withDatabase(environment: environment) { client in
            if let named {
                switch try await named.find(client: client, logger: logger) {
                case .failure(let refusal): return refusal.output
                case .success(let found):
                    let entries = try await OutboxStore.list(
                        request: found, limit: limit, client: client, logger: logger)
                    return ToolOutput(standardOutput: renderRequest(entries))
                }
            }
            let entries = try await OutboxStore.list(failed: failed, limit: limit, client: client, logger: logger)
            let deliveries = try await WebhookStore.list(failed: failed, limit: limit, client: client, logger: logger)
            let resting = try await WebhookStore.outOfService(now: Date(), client: client, logger: logger)
            // The webhook part only when there is one: most installations have no subscriptions.
            let webhooks =
                deliveries.isEmpty && resting.isEmpty
                ? [] : [""] + render(deliveries, outOfService: resting, failed: failed)
            return ToolOutput(standardOutput: render(entries, failed: failed) + webhooks)
        }
    }

    static func render(
        _ deliveries: [WebhookDeliveryEntry], outOfService: [WebhookStore.ReceiverOutOfService], failed: Bool
    ) -> [String] {
        let formatter = ISO8601DateFormatter()
        var lines: [String] = outOfService.map { receiver in
            if let since = receiver.disabledAt {
                "webhook subscription \(receiver.name) disabled since \(formatter.string(from: since)) (410 Gone; "
                    + "a new URL enables it again)"
            } else {
                "webhook subscription \(receiver.name) paused until "
                    + "\(receiver.pausedUntil.map { formatter.string(from: $0) } ?? "-") (429/503 with Retry-After)"
            }
        }
        guard !deliveries.isEmpty else { return lines + [failed ? "no failed webhooks" : "no pending webhooks"] }
        lines.append(
            "webhook\tsubscription\tevent\trequest\tcreated\tattempts\tnext attempt\tfailed\tstatus\tlast error")
        for entry in deliveries {
            lines.append(
                [
                    "w" + String(entry.id), entry.subscription, entry.event,
                    entry.requestID.map { $0.uuidString.lowercased() } ?? "-", formatter.string(from: entry.createdAt),
                    String(entry.attempts), entry.failedAt == nil ? formatter.string(from: entry.availableAt) : "-",
                    entry.failedAt.map { formatter.string(from: $0) } ?? "-", entry.status.map(String.init) ?? "-",
                    (entry.lastError ?? "").replacingOccurrences(of: "\n", with: " "),
                ].joined(separator: "\t"))
        }
        return lines
    }

    /// An outbox row as the operator names it: the number of a mail row, or `w` and the number of a
    /// webhook delivery, as `freigabe outbox list --failed` prints them.
    public enum RowID: Sendable, Hashable {
        case mail(Int64)
        case webhook(Int64)

        /// Why a text names no row, in the tools' language.
        public static let expected =
            "Die ID ist eine Zahl (eine Mail) oder w mit einer Zahl (eine Webhook-Zustellung), "
            + "wie „freigabe outbox list --failed“ sie zeigt."

        public init?(_ text: String) {
            if let number = Int64(text), number > 0 {
                self = .mail(number)
            } else if text.hasPrefix("w"), let number = Int64(text.dropFirst()), number > 0 {
                self = .webhook(number)
            } else {
                return nil
            }
        }
    }

    /// The account running `freigabe outbox retry`, as the audit log records it.
    static var operatorRetry: OutboxRetry {
        OutboxRetry(actor: AuditTool.operatingSystemUser() ?? "unknown", clientAddress: nil, via: .commandLine)
    }

    /// Sends the row `id` names again now (``retry(id:environment:now:)``, ``retryWebhook(id:environment:now:)``).
    public static func retry(_ id: RowID, environment: [String: String], now: Date = Date()) async -> ToolOutput {
        switch id {
        case .mail(let number): await retry(id: number, environment: environment, now: now)
        case .webhook(let number): await retryWebhook(id: number, environment: environment, now: now)
        }
    }

    /// Makes row `id` due now with a fresh retry schedule; the recipients it reached are not mailed again.
    public static func retry(id: Int64, environment: [String: String], now: Date = Date()) async -> ToolOutput {
        await withDatabase(environment: environment) { client in
            guard try await OutboxStore.retry(id: id, by: operatorRetry, now: now, client: client, logger: logger)
            else {
                return ToolOutput(
                    standardError: [
                        "Keine Mail-Nachricht \(id) im Postausgang, sie ist an alle gegangen, oder sie wird gerade gesendet."
                    ],
                    succeeded: false)
            }
            return ToolOutput(standardOutput: ["outbox row \(id) is due again"])
        }
    }

    /// Makes webhook delivery `id` (`w<id>` in the list) due now with a fresh retry schedule.
    public static func retryWebhook(id: Int64, environment: [String: String], now: Date = Date()) async -> ToolOutput {
        await withDatabase(environment: environment) { client in
            guard try await WebhookStore.retry(id: id, by: operatorRetry, now: now, client: client, logger: logger)
            else {
                return ToolOutput(
                    standardError: [
                        "Keine Webhook-Zustellung w\(id), sie ist zugestellt, sie wird gerade zugestellt, oder sie "
                            + "war für die frühere Adresse des Empfängers bestimmt."
                    ],
                    succeeded: false)
            }
            return ToolOutput(standardOutput: ["webhook delivery w\(id) is due again"])
        }
    }

    /// Sends one message to `address` with the configured SMTP server and says what happened.
    public static func sendTest(to address: String, reader: ConfigReader, now: Date = Date()) async -> ToolOutput {
        let settings: MailSettings
        do {
            guard let configured = try AppConfiguration(reader: reader).mail else {
                return ToolOutput(
                    standardError: ["Kein SMTP-Server eingerichtet: setzen Sie „\(MailSettings.Key.host)“."],
                    succeeded: false)
            }
            settings = configured
        } catch {
            return ToolOutput(standardError: ["Konfigurationsfehler: \(error)"], succeeded: false)
        }
        do {
            let recipient = try EmailAddress(address)
            let message = try MailMessage(
                messageID: try MessageID.random(domain: settings.hostName), date: now, from: settings.from,
                to: [Mailbox(recipient)], subject: "Freigabe: Testnachricht / test message",
                textBody: """
                    Diese Nachricht prüft die Mail-Einstellungen von Freigabe (\(settings.smtp.host):\(settings.smtp.port)).
                    This message checks Freigabe's mail settings.
                    """)
            let results = try await SMTPClient(configuration: settings.smtp, logger: logger).send([message])
            guard let result = results.first, result.isDelivered else {
                let reasons = results.flatMap(\.recipients).compactMap { recipient -> String? in
                    if case .failed(let error) = recipient.outcome { return String(reflecting: error) }
                    return nil
                }
                return ToolOutput(
                    standardError: ["Nicht angenommen: \(reasons.joined(separator: "; "))"], succeeded: false)
            }
            return ToolOutput(standardOutput: [
                "accepted by \(settings.smtp.host):\(settings.smtp.port) for \(recipient), Message-ID \(message.messageID)"
            ])
        } catch {
            return ToolOutput(standardError: ["Senden fehlgeschlagen: \(String(reflecting: error))"], succeeded: false)
        }
    }

    static func render(_ entries: [OutboxEntry], failed: Bool) -> [String] {
        guard !entries.isEmpty else { return [failed ? "no failed mail" : "no pending mail"] }
        let formatter = ISO8601DateFormatter()
        var lines = ["id\ttopic\trequest\tcreated\tattempts\tnext attempt\tfailed\tdelivered to\tlast error"]
        for entry in entries {
            lines.append(
                [
                    String(entry.id), entry.topic, entry.requestID.map { $0.uuidString.lowercased() } ?? "-",
                    formatter.string(from: entry.createdAt), String(entry.attempts),
                    entry.failedAt == nil ? formatter.string(from: entry.availableAt) : "-",
                    entry.failedAt.map { formatter.string(from: $0) } ?? "-",
                    entry.deliveredTo.isEmpty ? "-" : entry.deliveredTo.joined(separator: ","),
                    (entry.lastError ?? "").replacingOccurrences(of: "\n", with: " "),
                ].joined(separator: "\t"))
        }
        return lines
    }

    /// One request's mail rows: what each was, its state (pending, sent, failed) and whom it reached.
    static func renderRequest(_ entries: [OutboxEntry]) -> [String] {
        guard !entries.isEmpty else { return ["no mail"] }
        var table = ToolTable(columns: ["id", "topic", "created", "state", "attempts", "delivered to", "last error"])
        for entry in entries {
            let state =
                if let failed = entry.failedAt {
                    "failed \(table.time(failed))"
                } else if let sent = entry.sentAt {
                    "sent \(table.time(sent))"
                } else {
                    "pending, next \(table.time(entry.availableAt))"
                }
            table.add([
                String(entry.id), entry.topic, table.time(entry.createdAt), state, String(entry.attempts),
                entry.deliveredTo.isEmpty ? "-" : entry.deliveredTo.joined(separator: ","), entry.lastError ?? "",
            ])
        }
        return table.lines
    }

    private static func withDatabase(
        environment: [String: String], _ body: @Sendable (PostgresClient) async throws -> ToolOutput
    ) async -> ToolOutput {
        await ToolOutput.withApplicationDatabase(
            environment: environment, logger: logger, failure: "Postausgang nicht lesbar", body)
    }
}
