import Foundation

extension UUID {
    /// The 32 lowercase hex digits without dashes: an outbox row's delivery key as it stands in a
    /// `Message-ID` and a `webhook-id` (migration 25), where dashes would only lengthen the id.
    var compactHex: String {
        uuidString.lowercased().filter { $0 != "-" }
    }
}
