import Foundation
import Testing

@testable import WorkflowEngine

/// `AuditRecord.state` is documented as "the state name after the event". Auditors filter the log by it,
/// so every record an event returns must carry the state the request is in once the event is done, and
/// the workflow version it runs on.
@Suite("Audit records name the state after the event")
struct AuditRecordStateTests {
    typealias Fixtures = MachineFixtures

    static func expectStampedAfter(
        _ effects: [Effect], _ machine: RequestMachine, _ label: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let records = Fixtures.auditRecords(effects)
        #expect(!records.isEmpty, "\(label): no audit record", sourceLocation: sourceLocation)
        for record in records {
            #expect(
                record.state == machine.state.name,
                "\(label): \(record.event.rawValue) record of \(record.step ?? "-") says \(record.state)",
                sourceLocation: sourceLocation)
            #expect(
                record.workflowID == machine.definition.id && record.workflowVersion == machine.definition.version,
                "\(label): \(record.event.rawValue) record names no workflow version", sourceLocation: sourceLocation)
        }
    }

    @Test("events that do not complete a step")
    func simpleEvents() throws {
        let definition = try Fixtures.definition(.sharedData)
        var machine = try Fixtures.draft(definition, Fixtures.shared(.confidential, .personal))
        Self.expectStampedAfter(try machine.submit(by: "anna", at: Fixtures.t0), machine, "submit")
        guard case .inReview(let progress) = machine.state, let deadline = progress.deadline else {
            Issue.record("the submitted request waits at no step with a deadline")
            return
        }
        Self.expectStampedAfter(try machine.remind(at: deadline.addingTimeInterval(-1)), machine, "remind")
        Self.expectStampedAfter(try machine.escalate(at: Fixtures.muchLater), machine, "escalate")
        Self.expectStampedAfter(
            try machine.requestChanges(by: Fixtures.otto, at: Fixtures.t0, question: "?"), machine, "request_changes")
        Self.expectStampedAfter(try machine.resubmit(by: "anna", at: Fixtures.t0), machine, "resubmit")
        Self.expectStampedAfter(try machine.withdraw(by: "anna", at: Fixtures.t0), machine, "withdraw")

        var granted = try Fixtures.machine(.sharedData, in: "granted:granted")
        var revoked = granted
        Self.expectStampedAfter(try granted.expire(at: Fixtures.accessEnd), granted, "expire")
        Self.expectStampedAfter(
            try revoked.revoke(by: Fixtures.otto, at: Fixtures.t0, reason: "weg"), revoked, "revoke")
    }

    @Test("events that complete a step: approval, rejection, skipped steps, Personalunion")
    func stepCompletingEvents() throws {
        let definition = try Fixtures.definition(.sharedData)
        var machine = try Fixtures.submitted(definition, Fixtures.shared())
        Self.expectStampedAfter(try machine.approve(by: Fixtures.otto, at: Fixtures.t0), machine, "approve owner")
        // Completes the steward step, skips DSB and ISB, ends in granted.
        Self.expectStampedAfter(try machine.approve(by: Fixtures.stefan, at: Fixtures.t0), machine, "approve steward")

        var rejected = try Fixtures.submitted(definition, Fixtures.shared())
        Self.expectStampedAfter(
            try rejected.reject(by: Fixtures.otto, at: Fixtures.t0, reason: "nein"), rejected, "reject")

        var union = try Fixtures.submitted(definition, Fixtures.shared(.confidential))
        Self.expectStampedAfter(try union.approve(by: Fixtures.sina, at: Fixtures.t0), union, "personal union")
    }
}
