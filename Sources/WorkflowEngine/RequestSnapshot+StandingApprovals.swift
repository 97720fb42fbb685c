import Foundation

extension RequestSnapshot {
    /// The approvals the request's present pass through its workflow stands on, oldest first: what a
    /// grant or a publication was given on, with the approvers' comments (conditions of use).
    ///
    /// A question sets aside the approvals its step had before it (the step is taken up anew after the
    /// answer, all of its parts), and an answer that started the request again at the first step sets
    /// aside every decision before the question: those approvals were given to another request. The
    /// decisions do not record the restart; the decision after the question does: a resumed request
    /// goes on at the question's step, a restarted one at an earlier one. Two limits, neither met by the
    /// shipped workflows: a restart whose first step is the question's own (a start step with a `when:`
    /// that no longer applies) reads as a resumption, and a rejection routed back to a step (`on: reject:
    /// <step>`) sets nothing aside; the pass's start recorded by the engine would remove both.
    public var standingApprovals: [Decision] {
        var setAside = Set<Int>()
        for (index, question) in decisions.enumerated() where question.outcome == .changesRequested {
            let restarted = decisions[(index + 1)...].first.map { $0.step != question.step } ?? false
            for earlier in decisions.indices[..<index] where restarted || decisions[earlier].step == question.step {
                setAside.insert(earlier)
            }
        }
        return decisions.indices.filter { !setAside.contains($0) && decisions[$0].outcome == .approved }.map {
            decisions[$0]
        }
    }
}
