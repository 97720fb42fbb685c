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
            return waited(status, key: "status.in_review", text: text, ["step": step, "who": who])
        case .changesRequested:
            return text("status.changes_requested")
        case .granted:
            if let until = status.grantedUntil { return text("status.granted_until", ["date": text.periodEnd(until)]) }
            return text("status.granted")
        case .published:
            return text("status.published")
        case .closed:
            return text("status.closed", ["end": status.endTitle.map { text($0) } ?? status.end ?? ""])
        }
    }

    /// How long the request has waited since `status.since`, in working days as deadlines count: the text
    /// under `key` („seit 3 Arbeitstagen“), `key_one_day`, `key_today`, or `key_since` with the date when no
    /// working day has passed but the day is not today (a request that arrived on Friday evening has
    /// waited none on Sunday, but not „seit heute“). `arguments` fill the text's other placeholders.
    static func waited(
        _ status: RequestStatus, key: String, text: PageText, _ arguments: [String: String] = [:]
    ) -> String {
        let days = status.workingDaysWaited ?? 0
        let suffix =
            switch days {
            case ...0: status.sinceToday ?? true ? "_today" : "_since"
            case 1: "_one_day"
            default: ""
            }
        var arguments = arguments
        arguments["days"] = String(days)
        arguments["date"] = status.since.map { text.date($0) } ?? ""
        return text(key + suffix, arguments)
    }

    /// „Frist: 5. März 2026 (überschritten)“, or nil without a deadline.
    static func deadline(_ status: RequestStatus, text: PageText) -> String? {
        guard let deadline = status.deadline else { return nil }
        return text(status.overdue ? "status.deadline_overdue" : "status.deadline", ["date": text.lastDay(deadline)])
    }
}
