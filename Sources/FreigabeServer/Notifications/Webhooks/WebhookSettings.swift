import Foundation

/// Where webhooks go (`webhooks.*`): several subscriptions, each with its URL, signing secret(s) and
/// event types, plus the networks that may be reached although private, the timeout and the retry
/// schedule.
///
/// ```yaml
/// webhooks:
///   subscriptions: portal, tickets
///   allowed_networks: 10.20.0.0/16       # private receivers must be named
///   portal:
///     url: https://portal.stadt.example/hooks/freigabe
///     secret: whsec_...                  # FREIGABE_WEBHOOKS_PORTAL_SECRET
///     old_secret: whsec_...              # while rotating: both sign
///     events: request.published, grant.revoked
/// ```
public struct WebhookSettings: Sendable, Equatable {
    public enum Key {
        public static let subscriptions = "webhooks.subscriptions"
        public static let allowedNetworks = "webhooks.allowed_networks"
        public static let timeout = "webhooks.timeout_seconds"
        public static let retrySchedule = "webhooks.retry_schedule"
        public static func url(_ name: String) -> String { "webhooks.\(name).url" }
        public static func secret(_ name: String) -> String { "webhooks.\(name).secret" }
        public static func oldSecret(_ name: String) -> String { "webhooks.\(name).old_secret" }
        public static func events(_ name: String) -> String { "webhooks.\(name).events" }
    }

    public struct Subscription: Sendable, Equatable, CustomStringConvertible {
        /// `[a-z][a-z0-9]{0,31}`: part of configuration keys, environment variables and `webhook-id`s.
        public var name: String
        public var url: URL
        /// The current secret first; a second one while rotating.
        public var secrets: [WebhookSecret]
        /// nil: every event type.
        public var events: Set<WebhookEventType>?

        public init(name: String, url: URL, secrets: [WebhookSecret], events: Set<WebhookEventType>? = nil) {
            self.name = name
            self.url = url
            self.secrets = secrets
            self.events = events
        }

        /// SHA-256 of the URL, hex, as `webhook_subscriptions.url_hash` stores the address a subscription
        /// has (the URL itself may hold a token of the receiver's).
        var urlHash: String { SHA256Hex.of(Data(url.absoluteString.utf8)) }

        public var host: String { url.host(percentEncoded: false) ?? "" }
        public var port: Int { url.port ?? (url.scheme == "https" ? 443 : 80) }

        /// Scheme, host and port only: a path or query may hold a token of the receiver's.
        public var description: String { "\(name) → \(url.scheme ?? "?")://\(host):\(port)" }

        /// The event types as stored for the fan-out: `*` or a comma-separated list.
        var eventFilter: String {
            guard let events else { return "*" }
            return events.map(\.rawValue).sorted().joined(separator: ",")
        }
    }

    public var subscriptions: [Subscription]
    var policy: AddressPolicy
    /// For one attempt: resolving, connecting, sending and the answer.
    public var timeout: Duration = .seconds(10)
    public var retrySchedule: RetrySchedule = .standard
    /// The safety net beside LISTEN/NOTIFY.
    public var pollInterval: Duration = .seconds(30)
    /// Deliveries per round (sent at the same time).
    public var batchSize = 20
    /// How long a claimed delivery is left to its dispatcher; far longer than an attempt may take.
    public var lease: Duration = .seconds(120)

    init(subscriptions: [Subscription] = [], policy: AddressPolicy = AddressPolicy()) {
        self.subscriptions = subscriptions
        self.policy = policy
    }

    /// The settings; without `webhooks.subscriptions` there are none (the dispatcher then only marks
    /// the events as handled).
    ///
    /// - Throws: ``ConfigurationError`` naming the key of the first value that cannot be used, also a
    ///   URL whose host is an address the policy refuses (host names are checked when resolved, at
    ///   start by ``WebhookAddressCheck`` and before every attempt).
    static func read(_ values: SettingValues) throws -> WebhookSettings {
        var settings = WebhookSettings()
        if let networks = values.text(Key.allowedNetworks) {
            var allowed: [IPNetwork] = []
            for item in networks.split(separator: ",") {
                let text = item.trimmingCharacters(in: .whitespaces)
                // At least a /8 (IPv4) or /16 (IPv6): allowing "everything" switches the protection off.
                guard let network = IPNetwork(text), AddressPolicy.isNarrowEnough(network) else {
                    throw invalid(
                        Key.allowedNetworks, text,
                        expected: "Adressen oder Netze wie „127.0.0.1/32, 10.20.0.0/16“ (mindestens /8, IPv6 /7)")
                }
                allowed.append(network)
            }
            settings.policy = AddressPolicy(allowed: allowed)
        }
        settings.timeout = try values.seconds(Key.timeout, in: 1...30) ?? settings.timeout
        if let schedule = try values.parsed(
            Key.retrySchedule, expected: "aufsteigende Pausen wie „5s, 1m, 5m, 30m, 2h, 6h, 24h“",
            parse: RetrySchedule.parse)
        {
            settings.retrySchedule = schedule
        }
        guard let list = values.text(Key.subscriptions) else { return settings }
        var names: [String] = []
        for item in list.split(separator: ",") {
            let name = item.trimmingCharacters(in: .whitespaces)
            guard isName(name), !names.contains(name) else {
                throw invalid(
                    Key.subscriptions, name,
                    expected:
                        "verschiedene Namen aus a-z und 0-9 (mit Buchstaben vorn, höchstens 32), durch Kommas getrennt"
                )
            }
            names.append(name)
        }
        for name in names {
            settings.subscriptions.append(try subscription(name, values, policy: settings.policy))
        }
        return settings
    }

    private static func subscription(
        _ name: String, _ values: SettingValues, policy: AddressPolicy
    ) throws -> Subscription {
        guard let text = values.text(Key.url(name)) else {
            throw missing(Key.url(name), "„\(name)“ steht in „\(Key.subscriptions)“, hat aber keine URL")
        }
        let url = try checkedURL(text, key: Key.url(name), policy: policy)
        guard let secretText = values.text(Key.secret(name)) else {
            throw missing(Key.secret(name), "„\(name)“ hat kein Signaturgeheimnis")
        }
        var secrets: [WebhookSecret] = []
        for (key, text) in [(Key.secret(name), secretText), (Key.oldSecret(name), values.text(Key.oldSecret(name)))] {
            guard let text else { continue }
            guard let secret = WebhookSecret(text) else {
                // Never the value: it is (nearly) a secret.
                throw ConfigurationError(
                    code: .invalidValue, key: key,
                    description: "„\(key)“ (Umgebungsvariable \(SettingValues.environmentName(for: key))) ist kein "
                        + "Standard-Webhooks-Geheimnis: „whsec_“ und 24 bis 64 zufällige Bytes in Base64, "
                        + "z. B. aus „openssl rand -base64 32“.")
            }
            secrets.append(secret)
        }
        var events: Set<WebhookEventType>?
        if let list = values.text(Key.events(name)), list != "*" {
            var chosen: Set<WebhookEventType> = []
            for item in list.split(separator: ",") {
                let text = item.trimmingCharacters(in: .whitespaces)
                guard let event = WebhookEventType(rawValue: text) else {
                    throw invalid(
                        Key.events(name), text,
                        expected: "„*“ oder " + WebhookEventType.allCases.map(\.rawValue).joined(separator: ", "))
                }
                chosen.insert(event)
            }
            events = chosen
        }
        return Subscription(name: name, url: url, secrets: secrets, events: events)
    }

    /// http or https, a host, no credentials, no fragment, nothing invisible; a host given as an address
    /// (or `localhost`) must pass the policy now.
    static func checkedURL(_ text: String, key: String, policy: AddressPolicy) throws -> URL {
        let expected = "eine http- oder https-URL ohne Benutzerdaten, z. B. https://portal.stadt.example/hooks"
        guard text.utf8.count <= 2000,
            text.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0 != "\u{7f}" }),
            let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            scheme == "https" || scheme == "http", let host = components.host, !host.isEmpty,
            components.user == nil, components.password == nil, components.fragment == nil,
            components.port.map({ (1...65_535).contains($0) }) ?? true,
            let url = components.url
        else {
            throw invalid(key, redacted(String(text.prefix(200))), expected: expected)
        }
        let address = AddressPolicy.isLocalhostName(host) ? IPAddress("127.0.0.1") : IPAddress(host)
        if let address, let reason = policy.refusal(of: address) {
            throw ConfigurationError(
                code: .invalidValue, key: key,
                description: "„\(key)“ zeigt auf eine nicht öffentliche Adresse (\(reason)). Ist das gewollt, "
                    + "nennen Sie das Netz in „\(Key.allowedNetworks)“.")
        }
        return url
    }

    /// What an error message may show of a refused URL: scheme, host and port. Never the user part, the
    /// path or the query, where receivers keep their tokens (`…/services/T0/B0/SECRET`, `?token=…`).
    private static func redacted(_ text: String) -> String {
        guard let components = URLComponents(string: text), let scheme = components.scheme,
            let host = components.host, !host.isEmpty,
            host.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0 != "\u{7f}" })
        else { return "(nicht wiedergegeben)" }
        let rest = components.path.isEmpty && components.query == nil && components.fragment == nil ? "" : "/…"
        return scheme + "://" + host + (components.port.map { ":\($0)" } ?? "") + rest
    }

    private static func isName(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, ("a"..."z").contains(first), text.count <= 32 else { return false }
        return text.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) }
    }

    private static func invalid(_ key: String, _ value: String, expected: String) -> ConfigurationError {
        ConfigurationError(
            code: .invalidValue, key: key,
            description: "Ungültiger Wert für „\(key)“ (Umgebungsvariable \(SettingValues.environmentName(for: key))): "
                + "„\(value)“. Erlaubt: \(expected).")
    }

    private static func missing(_ key: String, _ what: String) -> ConfigurationError {
        ConfigurationError(
            code: .invalidValue, key: key,
            description: "\(what): setzen Sie „\(key)“ (Umgebungsvariable \(SettingValues.environmentName(for: key))).")
    }
}

/// The start-up check of host names: each subscription's host is resolved (with a deadline) and
/// refused when any of its addresses is; a name that does not resolve now is only warned about (DNS
/// may be back before the first event; every attempt checks again).
enum WebhookAddressCheck {
    static func check(_ settings: WebhookSettings, deadline: Duration = .seconds(5)) async throws -> [String] {
        var warnings: [String] = []
        for subscription in settings.subscriptions where IPAddress(subscription.host) == nil {
            let key = WebhookSettings.Key.url(subscription.name)
            do {
                let addresses = try await HostResolver.addresses(
                    of: subscription.host, port: subscription.port, timeout: deadline)
                for address in addresses {
                    if let reason = settings.policy.refusal(of: address) {
                        throw ConfigurationError(
                            code: .invalidValue, key: key,
                            description: "„\(key)“: „\(subscription.host)“ löst auf eine nicht öffentliche Adresse auf "
                                + "(\(reason)). Ist das gewollt, nennen Sie das Netz in "
                                + "„\(WebhookSettings.Key.allowedNetworks)“.")
                    }
                }
            } catch let error as ConfigurationError {
                throw error
            } catch {
                warnings.append("\(subscription): \(error)")
            }
        }
        return warnings
    }
}

struct DeadlineExceeded: Error, CustomStringConvertible {
    var deadline: Duration
    var description: String { "keine Antwort binnen \(deadline)" }
}

/// `body`, cancelled after `deadline` (then ``DeadlineExceeded``).
func withDeadline<Result: Sendable>(
    _ deadline: Duration, _ body: @escaping @Sendable () async throws -> Result
) async throws -> Result {
    try await withThrowingTaskGroup(of: Result?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: deadline)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let result = first else { throw DeadlineExceeded(deadline: deadline) }
        return result
    }
}
