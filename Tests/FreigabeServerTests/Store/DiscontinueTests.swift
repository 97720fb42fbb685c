import Foundation
import Logging
import PostgresNIO
import Testing
import WorkflowEngine

@testable import FreigabeServer

/// A request nobody moves on any more (a DSB part nobody may take, a question whose requester left) is
/// closed by the escalation instance as withdrawn: the engine's `discontinue`, through the service.
@Suite("Discontinuing a request nobody moves on")
struct DiscontinueTests {
    let logger = StoreTestSupport.logger

    /// The pending (neither fired nor cancelled) timers of a request.
    func pendingTimers(_ fixture: ServiceFixture, request: UUID) async throws -> Int {
        let rows = try await fixture.admin.query(
            """
            SELECT count(*)::int FROM timers
            WHERE request_id = \(request) AND fired_at IS NULL AND cancelled_at IS NULL
            """, logger: logger)
        var count = -1
        for try await value in rows.decode(Int.self) { count = value }
        return count
    }

    @Test("a DSB step past its deadline: the governance office closes it as withdrawn, with its reason")
    func stuckPrivacyStep() async throws {
        try await ServiceFixture.with { fixture in
            let service = fixture.service
            let created = try await fixture.shared("meldestatistik", legalBasis: "Art. 6 Abs. 1 lit. e DSGVO")
            let owner = try await fixture.decide(created, by: People.marta, at: Clock.days(1))
            let waiting = try await fixture.decide(owner, by: People.bea, at: Clock.days(1))
            #expect(waiting.status.step == "privacy_review")
            let reason = "Die einzige DSB-Stelle ist seit Monaten unbesetzt; bitte neu beantragen."

            // Before the DSB's deadline: not offered, and refused with the time from which it is allowed.
            let early = try await service.request(
                id: waiting.id, caller: People.greta, now: Clock.days(2), logger: logger)
            #expect(!early.allowedActions.contains(.discontinue))
            let before = try await fixture.counts()
            let tooEarly = await expectServiceError(.invalidState) {
                try await service.discontinue(
                    requestID: waiting.id, reason: reason, caller: People.greta, now: Clock.days(2), logger: logger)
            }
            #expect(tooEarly?.message.key == "messages.request.discontinue_too_early")
            #expect(tooEarly?.engineCode == "too_early")
            #expect(try await fixture.counts() == before)

            // The deadline passed and the step escalated: Greta may not decide the DSB's part, but may close it.
            _ = try await service.fireDueTimers(now: Clock.days(20), logger: logger)
            let overdue = try await service.request(
                id: waiting.id, caller: People.greta, now: Clock.days(20), logger: logger)
            #expect(overdue.status.escalated)
            #expect(overdue.allowedActions == [.discontinue])
            #expect(overdue.decisionOptions == nil)
            // Nobody else: not the DSB, the steward who decided, or the requester.
            let dora = try await service.request(
                id: waiting.id, caller: People.dora, now: Clock.days(20), logger: logger)
            #expect(!dora.allowedActions.contains(.discontinue))
            let afterTimers = try await fixture.counts()
            for caller in [People.dora, People.bea] {
                await expectServiceError(.forbidden) {
                    try await service.discontinue(
                        requestID: waiting.id, reason: reason, caller: caller, now: Clock.days(20), logger: logger)
                }
            }
            await expectServiceError(.forbidden) {
                try await service.discontinue(
                    requestID: waiting.id, reason: reason, caller: People.anna, now: Clock.days(20), logger: logger)
            }
            // A reason is required: blank, or only spaces and line breaks.
            for blank in ["", "  \n\t "] {
                let refusal = await expectServiceError(.validation) {
                    try await service.discontinue(
                        requestID: waiting.id, reason: blank, caller: People.greta, now: Clock.days(20), logger: logger)
                }
                #expect(refusal?.fieldErrors["reason"] != nil)
            }
            // The refusals wrote their security events and nothing else.
            let refusedRows = try await fixture.counts()
            #expect(refusedRows["requests"] == afterTimers["requests"])
            #expect(refusedRows["decisions"] == afterTimers["decisions"])
            #expect(refusedRows["outbox"] == afterTimers["outbox"])
            #expect(try await fixture.refusedCommands(of: "dora") == ["discontinue"])

            let closed = try await service.discontinue(
                requestID: waiting.id, reason: reason, caller: People.greta, now: Clock.days(20),
                expectedVersion: overdue.version, logger: logger)
            #expect(closed.status.state == "closed:withdrawn")
            #expect(closed.allowedActions.isEmpty)
            let decision = try #require(closed.decisions.last)
            #expect(decision.outcome == .discontinued)
            #expect(decision.person == "greta")
            #expect(decision.role == "governance")
            #expect(decision.asEscalation)
            #expect(decision.step == "privacy_review")
            #expect(decision.comment == reason)
            #expect(try await fixture.auditEvents(request: waiting.id).last == "discontinued")
            // The requester learns why; the DSBs that the step waited for learn that nothing is left to decide.
            let topics = try await fixture.outboxTopics(request: waiting.id)
            #expect(Array(topics.suffix(2)) == ["discontinued", "step_discontinued"])
            #expect(try await pendingTimers(fixture, request: waiting.id) == 0)

            // It is over for everyone: the requester can neither answer nor withdraw, Greta not close it twice.
            let requesterView = try await service.request(
                id: waiting.id, caller: People.anna, now: Clock.days(21), logger: logger)
            #expect(requesterView.allowedActions.isEmpty)
            #expect(requesterView.decisions.last?.outcome == .discontinued)
            await expectServiceError(.invalidState) {
                try await service.withdraw(
                    requestID: waiting.id, caller: People.anna, now: Clock.days(21), logger: logger)
            }
            // The timeline says where it ended and how, not "approved".
            #expect(requesterView.timeline.map(\.status) == [.done, .done, .discontinued, .notReached])
            // A second tap, and the DSB's late approval, hear who closed it and when (409, no security event).
            let twice = await expectServiceError(.conflict) {
                try await service.discontinue(
                    requestID: waiting.id, reason: reason, caller: People.greta, now: Clock.days(21), logger: logger)
            }
            #expect(twice?.message.key == "messages.decision.already_discontinued_by_you")
            let late = await expectServiceError(.conflict) {
                try await fixture.decide(waiting, by: People.dora, at: Clock.days(21))
            }
            #expect(late?.message.key == "messages.decision.already_discontinued")
            #expect(late?.message.german.contains("greta") == true)
            #expect(try await fixture.refusedCommands(of: "dora") == ["discontinue"])
            // The log and the stored request agree (what `audit verify` checks for every request).
            #expect(try await RequestStateCheck(client: fixture.admin).firstMismatch(logger: logger) == nil)
        }
    }

    @Test("the governance office's list of stalled requests: what it may close, not what it may decide")
    func stalledList() async throws {
        try await ServiceFixture.with { fixture in
            let service = fixture.service
            // A DSB part nobody else may take, a question nobody answers, an owner step the office may decide.
            let created = try await fixture.shared("meldestatistik", legalBasis: "Art. 6 Abs. 1 lit. e DSGVO")
            let owner = try await fixture.decide(created, by: People.marta, at: Clock.days(1))
            let privacy = try await fixture.decide(owner, by: People.bea, at: Clock.days(1))
            let question = try await fixture.decide(
                try await fixture.shared("baumkataster"), by: People.otto,
                .requestChanges(question: "Für welches Quartier genau?"), at: Clock.days(1))
            let ownerStep = try await fixture.shared("luftmessstationen")
            func stalled(_ caller: Caller, _ day: Double) async throws -> [StalledItem] {
                try await service.stalledRequests(caller: caller, now: Clock.days(day), logger: logger)
            }

            // While the people waited for still have time, nothing is stalled.
            #expect(try await stalled(People.greta, 2).isEmpty)
            // Overdue, but its escalation not recorded yet (the timer late): the owner step is listed, as
            // nobody may decide it in the owner's place until then.
            let beforeTimers = try await stalled(People.greta, 9)
            #expect(beforeTimers.first { $0.request.id == ownerStep.id }?.waitingFor == .decision)
            // The question first: closable five working days after it was asked, waiting for the answer. The
            // owner step escalated when its timer fired: the office decides it from its inbox.
            _ = try await service.fireDueTimers(now: Clock.days(9), logger: logger)
            let early = try await stalled(People.greta, 9)
            #expect(early.map(\.request.id) == [question.id])
            let asked = try #require(early.first)
            #expect(asked.waitingFor == .answer)
            #expect(asked.since == question.decisions.last?.at)
            #expect(asked.capacity == .escalation && asked.role == "governance" && asked.actingFor == nil)
            #expect(asked.step == "owner_review")

            // Past every deadline: the DSB part and the question, the one closable earliest first; the owner
            // step the office may decide is in its inbox instead.
            _ = try await service.fireDueTimers(now: Clock.days(30), logger: logger)
            let late = try await stalled(People.greta, 30)
            #expect(Set(late.map(\.request.id)) == [question.id, privacy.id])
            #expect(late.map(\.closableFrom) == late.map(\.closableFrom).sorted())
            let dsbPart = try #require(late.first { $0.request.id == privacy.id })
            #expect(dsbPart.waitingFor == .decision && dsbPart.step == "privacy_review")
            #expect(dsbPart.closableFrom == privacy.status.deadline)
            let inbox = try await service.inbox(caller: People.greta, now: Clock.days(30), logger: logger)
            #expect(inbox.map(\.request.id).contains(ownerStep.id))
            #expect(!late.contains { $0.request.id == ownerStep.id })
            // The inbox page carries the same list on its first page only.
            let page = try await service.inboxPage(
                caller: People.greta, after: nil, now: Clock.days(30), logger: logger)
            #expect(page.stalled == late)

            // Nobody else: the requester, the DSB whose part it is, the owner who asked.
            for caller in [People.anna, People.dora, People.otto] {
                #expect(try await stalled(caller, 30).isEmpty, "\(caller.uid)")
            }
            // Greta's deputy, while the deputyship is in force, in her name; not before. The owner step the
            // deputy decides in her stead, from the inbox.
            _ = try await service.createDeputyship(
                NewDeputyship(deputy: "paul", validFrom: Clock.days(31), validUntil: Clock.days(40)),
                caller: People.greta, now: Clock.days(30), logger: logger)
            #expect(try await stalled(People.paul, 30).isEmpty)
            let deputy = try await stalled(People.paul, 32)
            #expect(Set(deputy.map(\.request.id)) == [question.id, privacy.id])
            #expect(deputy.allSatisfy { $0.capacity == .escalationDeputy && $0.actingFor == "greta" })
            let deputyInbox = try await service.inbox(caller: People.paul, now: Clock.days(32), logger: logger)
            let owned = try #require(deputyInbox.first { $0.request.id == ownerStep.id })
            #expect(owned.capacity == .escalationDeputy && owned.actingFor == "greta" && owned.role == "governance")

            // Closed, it leaves the list.
            _ = try await service.discontinue(
                requestID: question.id, reason: "Keine Antwort seit Wochen", caller: People.greta,
                now: Clock.days(32), logger: logger)
            #expect(try await stalled(People.greta, 32).map(\.request.id) == [privacy.id])
            // The deputy closes the other in Greta's stead (the page says so before the button); Greta, a
            // moment later, hears who did and for whom.
            let paulView = try await service.request(
                id: privacy.id, caller: People.paul, now: Clock.days(32), logger: logger)
            #expect(
                paulView.discontinueOptions
                    == DiscontinueOptions(role: "governance", capacity: .escalationDeputy, actingFor: "greta"))
            let gretaView = try await service.request(
                id: privacy.id, caller: People.greta, now: Clock.days(32), logger: logger)
            #expect(gretaView.discontinueOptions == DiscontinueOptions(role: "governance", capacity: .escalation))
            let annaView = try await service.request(
                id: privacy.id, caller: People.anna, now: Clock.days(32), logger: logger)
            #expect(annaView.discontinueOptions == nil)
            let closed = try await service.discontinue(
                requestID: privacy.id, reason: "Die DSB-Stelle ist unbesetzt", caller: People.paul,
                now: Clock.days(32), logger: logger)
            let record = try #require(closed.decisions.last)
            #expect(record.person == "paul" && record.actingFor == "greta" && record.asEscalation)
            let afterPaul = await expectServiceError(.conflict) {
                try await service.discontinue(
                    requestID: privacy.id, reason: "Niemand entscheidet", caller: People.greta, now: Clock.days(32),
                    logger: logger)
            }
            #expect(afterPaul?.message.key == "messages.decision.already_discontinued_as_deputy")
            #expect(afterPaul?.message.german.contains("paul (in Vertretung für greta)") == true)
            #expect(try await stalled(People.greta, 32).isEmpty)
        }
    }

    /// The demo office has one member, Greta. Once she decided the owner step as the escalation instance,
    /// separation of duties keeps her from the overdue steward step the office may decide: it is in
    /// nobody's inbox, so her list of stalled requests names it, saying why she may only close it.
    @Test("an escalated step a member is kept from deciding is on her list of stalled requests, saying so")
    func keptFromDecidingIsStalled() async throws {
        try await ServiceFixture.with { fixture in
            let service = fixture.service
            // Greta decides the overdue owner step as the escalation instance; then the steward step is overdue.
            let created = try await fixture.shared("baumkataster")
            let ownerDeadline = try #require(created.status.deadline)
            _ = try await service.fireDueTimers(now: ownerDeadline, logger: logger)
            let escalated = try await service.request(
                id: created.id, caller: People.greta, now: ownerDeadline, logger: logger)
            let steward = try await fixture.decide(escalated, by: People.greta, at: ownerDeadline)
            #expect(steward.status.step == "steward_review")
            let stewardDeadline = try #require(steward.status.deadline)
            _ = try await service.fireDueTimers(now: stewardDeadline, logger: logger)
            #expect(try await service.inbox(caller: People.greta, now: stewardDeadline, logger: logger).isEmpty)
            let stalled = try await service.stalledRequests(caller: People.greta, now: stewardDeadline, logger: logger)
            #expect(stalled.map(\.request.id) == [created.id])
            #expect(stalled.first?.barredBySeparationOfDuties == true && stalled.first?.step == "steward_review")
            #expect(stalled.first?.waitingFor == .decision && stalled.first?.capacity == .escalation)
            // Before the steward step was overdue it is nobody's to close; the owner step she could decide
            // was never listed.
            #expect(
                try await service.stalledRequests(
                    caller: People.greta, now: stewardDeadline.addingTimeInterval(-60), logger: logger
                ).isEmpty)
            // A member who may decide the escalated step finds it in the inbox, not here: a fresh request's
            // overdue owner step.
            let fresh = try await fixture.shared("baumkataster", at: stewardDeadline)
            let freshDeadline = try #require(fresh.status.deadline)
            _ = try await service.fireDueTimers(now: freshDeadline, logger: logger)
            #expect(
                try await service.inbox(caller: People.greta, now: freshDeadline, logger: logger).map(\.request.id)
                    == [fresh.id])
            #expect(
                !(try await service.stalledRequests(caller: People.greta, now: freshDeadline, logger: logger))
                    .contains { $0.request.id == fresh.id })
        }
    }

    /// Otto, back in time, decides his escalated step a moment before Greta does: Greta could have taken
    /// it and hears who did (409), and no security event is written against her.
    @Test("the escalation instance after the owner decided his escalated step: 409 naming him, no forbidden event")
    func escalationLosesTheRaceToTheOwner() async throws {
        try await ServiceFixture.with { fixture in
            let service = fixture.service
            let created = try await fixture.shared("baumkataster")
            let deadline = try #require(created.status.deadline)
            _ = try await service.fireDueTimers(now: deadline, logger: logger)
            let escalated = try await service.request(
                id: created.id, caller: People.greta, now: deadline, logger: logger)
            _ = try await fixture.decide(escalated, by: People.otto, at: deadline)
            let late = await expectServiceError(.conflict) {
                try await fixture.decide(escalated, by: People.greta, at: deadline.addingTimeInterval(1))
            }
            #expect(late?.message.key == "messages.decision.already_decided", "\(String(describing: late))")
            #expect(late?.message.german.contains("otto") == true)
            #expect(try await fixture.refusedCommands(of: "greta").isEmpty)
            #expect(try await RequestStateCheck(client: fixture.admin).firstMismatch(logger: logger) == nil)
        }
    }

    @Test("an unanswered question: closable once it was open as long as the step's deadline gives")
    func unansweredQuestion() async throws {
        try await ServiceFixture.with { fixture in
            let service = fixture.service
            let created = try await fixture.shared("baumkataster")
            let asked = try await fixture.decide(
                created, by: People.otto, .requestChanges(question: "Für welches Quartier genau?"), at: Clock.days(1))
            #expect(asked.status.phase == .changesRequested)
            // Five working days from Tuesday 3 March: not on Friday the 6th, from the end of Tuesday the 10th.
            await expectServiceError(.invalidState) {
                try await service.discontinue(
                    requestID: asked.id, reason: "Keine Antwort", caller: People.greta, now: Clock.days(4),
                    logger: logger)
            }
            // Then the question's escalation timer tells the Governance Office, which finds the request so.
            _ = try await service.fireDueTimers(now: Clock.days(9), logger: logger)
            #expect(try await fixture.outboxTopics(request: asked.id).last == "question_unanswered")
            #expect(try await fixture.auditEvents(request: asked.id).last == "question_unanswered")
            let later = try await service.request(
                id: asked.id, caller: People.greta, now: Clock.days(9), logger: logger)
            #expect(later.allowedActions == [.discontinue])
            #expect(later.status.phase == .changesRequested)
            let closed = try await service.discontinue(
                requestID: asked.id, reason: "Keine Antwort seit Wochen; die Antragstellerin hat die Stadt verlassen.",
                caller: People.greta, now: Clock.days(9), logger: logger)
            #expect(closed.status.state == "closed:withdrawn")
            // The requester learns why; the owner, who waited for the answer, that nothing is left to decide.
            #expect(
                Array(try await fixture.outboxTopics(request: asked.id).suffix(2)) == [
                    "discontinued", "step_discontinued",
                ])
            #expect(try await RequestStateCheck(client: fixture.admin).firstMismatch(logger: logger) == nil)
        }
    }

    @Test("questions open before migration 26 get their escalation timer, and escalate when it is due")
    func openQuestionsBeforeTheMigration() async throws {
        try await ServiceFixture.with { fixture in
            let service = fixture.service
            let created = try await fixture.shared("baumkataster")
            let asked = try await fixture.decide(
                created, by: People.otto, .requestChanges(question: "Welche Bezirke?"), at: Clock.days(1))
            // The requester is told until when to answer (the mail and the status say it).
            let due = try #require(asked.status.deadline)
            #expect(due > Clock.days(6) && due < Clock.days(9))
            // As before the migration: no timer for the question.
            try await fixture.admin.query(
                "DELETE FROM timers WHERE request_id = \(asked.id) AND kind = 'question_escalation'", logger: logger)
            try await fixture.admin.query(PostgresQuery(unsafeSQL: Migrations.questionTimersBackfill), logger: logger)
            // Due at once, the timer is moved to the question's own time, and fires then.
            _ = try await service.fireDueTimers(now: Clock.days(2), logger: logger)
            #expect(!(try await fixture.outboxTopics(request: asked.id).contains("question_unanswered")))
            _ = try await service.fireDueTimers(now: Clock.days(9), logger: logger)
            #expect(try await fixture.outboxTopics(request: asked.id).last == "question_unanswered")
        }
    }

    /// A workflow may route a rejection on to another step (here: the owner's "no" goes to the steward for
    /// a second opinion). Closed later at that step, the timeline says of each step how it ended.
    @Test("a rejection routed on, then discontinued: each step reads as it ended")
    func rejectionRoutedOnThenDiscontinued() async throws {
        let shipped = try String(
            contentsOfFile: StoreTestSupport.workflowsDirectory + "/shared-data.yaml", encoding: .utf8)
        let secondOpinion = shipped.replacingOccurrences(
            of: "on: { approve: steward_review, reject: rejected }",
            with: "on: { approve: steward_review, reject: steward_review }"
        ).replacingOccurrences(of: "version: 1\n", with: "version: 2\n")
        let workflows = try StoreTestSupport.workflows(
            keeping: { $0 != "shared-data.yaml" }, written: ["shared-data.yaml": secondOpinion])
        try await ServiceFixture.with(workflows: workflows) { fixture in
            let created = try await fixture.shared("baumkataster")
            let rejected = try await fixture.decide(
                created, by: People.otto, .reject(reason: "Zu grob"), at: Clock.days(1))
            #expect(rejected.status.step == "steward_review")
            _ = try await fixture.service.fireDueTimers(now: Clock.days(20), logger: logger)
            let closed = try await fixture.service.discontinue(
                requestID: created.id, reason: "Niemand entscheidet", caller: People.greta, now: Clock.days(20),
                logger: logger)
            #expect(closed.timeline.map(\.status) == [.rejected, .discontinued, .skipped, .skipped])
        }
    }

    @Test("an answered question does not escalate: its timer is cancelled with the answer")
    func answeredQuestion() async throws {
        try await ServiceFixture.with { fixture in
            let service = fixture.service
            let created = try await fixture.shared("baumkataster")
            let asked = try await fixture.decide(
                created, by: People.otto, .requestChanges(question: "Für welches Quartier genau?"), at: Clock.days(1))
            _ = try await service.resubmit(
                requestID: asked.id, changes: Resubmission(comment: "Nordend"), caller: People.anna,
                now: Clock.days(2), logger: logger)
            // The step it went back to has its reminder and escalation; the question's is cancelled.
            #expect(try await pendingTimers(fixture, request: asked.id) == 2)
            _ = try await service.fireDueTimers(now: Clock.days(30), logger: logger)
            let topics = try await fixture.outboxTopics(request: asked.id)
            #expect(!topics.contains("question_unanswered"))
            #expect(topics.last == "escalated")
        }
    }
}
