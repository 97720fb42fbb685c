/// The webhook event types a command writes to the outbox: those that at least one configured
/// subscription wants.
///
/// A subscription only ever receives events that happened after it was registered, filtered by its
/// `events` at fan-out time (``WebhookStore/fanOut(_:now:limit:client:logger:)``). An event no configured
/// subscription wants would therefore only be written, announced by `NOTIFY`, and marked handled by the
/// fan-out without reaching anyone: with no subscriptions (the default) that was two to three outbox
/// rows, their updates and a fan-out statement per command. Every instance reads the same configuration;
/// during a rolling change of `webhooks.*`, an instance still on the old one writes the old selection
/// until it restarts.
public struct WebhookEventSelection: Sendable, Hashable {
    private let types: Set<WebhookEventType>

    /// Every event type, as if one subscription wanted everything.
    public static let all = WebhookEventSelection(types: Set(WebhookEventType.allCases))

    /// No event: for work that tells people again what receivers already learned (a step handed to new
    /// holders announces no second `request.step_assigned`; its payload names the role, not people).
    static let none = WebhookEventSelection(types: [])

    private init(types: Set<WebhookEventType>) { self.types = types }

    /// The union of the subscriptions' event types (a subscription without `events` wants all).
    public init(subscriptions: [WebhookSettings.Subscription]) {
        types = subscriptions.reduce(into: []) { wanted, subscription in
            wanted.formUnion(subscription.events ?? Set(WebhookEventType.allCases))
        }
    }

    public var isEmpty: Bool { types.isEmpty }

    public func contains(_ type: WebhookEventType) -> Bool { types.contains(type) }
}
