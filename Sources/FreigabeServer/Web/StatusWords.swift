import Foundation
import WorkflowEngine

/// A request's status as a sentence: „Liegt seit 3 Arbeitstagen bei der Datenschutzprüfung
/// (Dora D.)“. Built from the service's status, which the engine answered; with `people` the roles are
/// named by the people who hold them (short names on lists), without them by the role.
enum StatusWords {
    static func sentence(
        _ status: RequestStatus, text: PageText, people: ActingPeople? = nil, shortNames: Bool = false
    ) -> String {
        switch status.phase {
        case .draft:
            return text("status.draft")
        case .inReview:
            let step = status.stepTitle.map { text($0) } ?? status.step ?? ""
            let who = status.waitingFor.map { role in
                guard let holders = people?.byRole[role], !holders.isEmpty else { return text.role(role) }
                return holders.map { ActingPeople.name($0.name, short: shortNames) }.joined(separator: ", ")
            }.joined(separator: ", ")
            let days = status.workingDaysWaited ?? 0
            let key = days == 0 ? "status.in_review_today" : days == 1 ? "status.in_review_one_day" : "status.in_review"
            return text(key, ["step": step, "who": who, "days": String(days)])
        case .changesRequested:
            return text("status.changes_requested")
        case .granted:
            if let until = status.grantedUntil { return text("status.granted_until", ["date": text.lastDay(until)]) }
            return text("status.granted")
        case .published:
            return text("status.published")
        case .closed:
            return text("status.closed", ["end": status.endTitle.map { text($0) } ?? status.end ?? ""])
        }
    }

    /// „Frist: 5. März 2026 (überschritten)“, or nil without a deadline.
    static func deadline(_ status: RequestStatus, text: PageText) -> String? {
        guard let deadline = status.deadline else { return nil }
        return text(status.overdue ? "status.deadline_overdue" : "status.deadline", ["date": text.lastDay(deadline)])
    }
}
