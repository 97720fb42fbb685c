import Foundation
import Logging
import PostgresNIO
import Testing
import WorkflowEngine

@testable import FreigabeServer

let approve = DecisionInput.approve(comment: nil, licence: nil, portalURL: nil)

extension ServiceFixture {
    /// Anna asks for Shared Data of `dataset` for an internal unit, from `accessStart` (default: when she
    /// files) until 60 days after she files.
    func shared(
        _ dataset: String,
        recipient: RecipientInput = RecipientInput(name: "Amt für Stadtentwicklung", type: .internal),
        legalBasis: String? = nil, accessStart: Date? = nil, by caller: Caller = People.anna, submit: Bool = true,
        at now: Date = Clock.start, key: String? = nil
    ) async throws(ServiceError) -> RequestView {
        try await service.createRequest(
            NewRequest(
                kind: .sharedData, datasetID: dataset,
                details: RequestDetails(
                    purpose: "Planung der Grünflächen 2027", recipient: recipient, legalBasis: legalBasis,
                    accessStart: accessStart ?? now, accessEnd: Clock.days(60, after: now)),
                submit: submit),
            caller: caller, now: now, idempotencyKey: key, logger: logger)
    }

    static let noConcerns = OpenDataCheck(
        personalReference: CheckAnswer(applies: false), tradeSecrets: CheckAnswer(applies: false),
        thirdPartyRights: CheckAnswer(applies: false), security: CheckAnswer(applies: false),
        confidentiality: CheckAnswer(applies: false))

    func open(
        _ dataset: String, anonymisation: String? = nil, by caller: Caller = People.anna, at now: Date = Clock.start
    ) async throws(ServiceError) -> RequestView {
        try await service.createRequest(
            NewRequest(
                kind: .openData, datasetID: dataset,
                details: RequestDetails(
                    purpose: "Veröffentlichung im Open-Data-Portal", licence: "dl-de-zero-2.0", format: "CSV",
                    anonymisationStatement: anonymisation, openDataCheck: Self.noConcerns),
                submit: true),
            caller: caller, now: now, logger: logger)
    }

    @discardableResult
    func decide(
        _ request: RequestView, by caller: Caller, _ decision: DecisionInput = approve, at now: Date,
        branch: String? = nil
    ) async throws(ServiceError) -> RequestView {
        try await service.decide(
            requestID: request.id, decision: decision, branch: branch, caller: caller, now: now, logger: logger)
    }
}

@Suite("Lifecycles of the shipped workflows")
struct LifecycleTests {
    let logger = StoreTestSupport.logger

    @Test("Shared Data of public data: owner, steward, DSB and ISB skipped, granted, then expired by the timer")
    func sharedGrantedThenExpired() async throws {
        try await ServiceFixture.with { fixture in
            let created = try await fixture.shared("baumkataster")
            #expect(created.number.hasPrefix("FG-2026-"))
            #expect(created.status.phase == .inReview)
            #expect(created.status.step == "owner_review")
            #expect(created.status.waitingFor == ["data_owner"])
            #expect(created.status.deadline != nil)
            #expect(created.allowedActions == [.withdraw])
            #expect(created.workflow.id == "shared-data")
            #expect(created.timeline.map(\.status) == [.current, .pending, .skipped, .skipped])

            let owner = try await fixture.decide(created, by: People.otto, at: Clock.days(1))
            #expect(owner.status.step == "steward_review")
            let granted = try await fixture.decide(owner, by: People.stefan, at: Clock.days(2))
            #expect(granted.status.phase == .granted)
            #expect(granted.status.end == "granted")
            #expect(granted.status.grantedUntil == created.accessEnd)
            #expect(granted.decisions.map(\.person) == ["otto", "stefan"])
            #expect(granted.timeline.map(\.status) == [.done, .done, .skipped, .skipped])
            #expect(granted.timeline[2].skipReason == .conditionNotMet)

            // Nothing expires early; the timer fires once the access period is over.
            #expect(try await fixture.service.fireDueTimers(now: Clock.days(3), logger: logger) == 0)
            #expect(try await fixture.service.fireDueTimers(now: Clock.days(61), logger: logger) >= 1)
            let expired = try await fixture.service.request(
                id: created.id, caller: People.anna, now: Clock.days(61), logger: logger)
            #expect(expired.status.phase == .closed)
            #expect(expired.status.end == "expired")

            // The expiry notice fired in the same round, after the end: moot (``GrantExpiryTests``).
            let events = try await fixture.auditEvents(request: created.id)
            #expect(
                events == [
                    "created", "submitted", "approved", "approved", "step_skipped", "step_skipped", "ended", "expired",
                ])
            let topics = try await fixture.outboxTopics(request: created.id)
            #expect(
                topics == [
                    "submitted", "request_decision", "request_decision", "granted", "access_granted", "expired",
                    "access_expired",
                ])
        }
    }

    @Test("Shared Data of pseudonymised, confidential data: all four steps, granted, revoked by the DSB")
    func sharedAllStepsRevoked() async throws {
        try await ServiceFixture.with { fixture in
            let created = try await fixture.shared(
                "meldestatistik", recipient: RecipientInput(name: "Universität Beispielstadt", type: .external),
                legalBasis: "Art. 6 Abs. 1 lit. e DSGVO i. V. m. § 3 BDSG")
            var view = try await fixture.decide(created, by: People.marta, at: Clock.days(1))
            view = try await fixture.decide(view, by: People.bea, at: Clock.days(2))
            #expect(view.status.step == "privacy_review")
            #expect(view.status.waitingFor == ["dsb"])
            view = try await fixture.decide(
                view, by: People.dora, .approve(comment: "Nur aggregiert", licence: nil, portalURL: nil),
                at: Clock.days(3))
            #expect(view.status.step == "security_review")
            view = try await fixture.decide(view, by: People.ingo, at: Clock.days(4))
            #expect(view.status.phase == .granted)
            #expect(view.timeline.map(\.status) == [.done, .done, .done, .done])
            let revoked = try await fixture.service.revoke(
                requestID: view.id, reason: "Zweckentfremdung festgestellt", caller: People.dora, now: Clock.days(10),
                logger: logger)
            #expect(revoked.status.end == "revoked")
            #expect(revoked.decisions.last?.outcome == .revoked)
            // The expiry timer is cancelled: firing later changes nothing.
            _ = try await fixture.service.fireDueTimers(now: Clock.days(90), logger: logger)
            let later = try await fixture.service.request(
                id: view.id, caller: People.alex, now: Clock.days(90), logger: logger)
            #expect(later.status.end == "revoked")
            #expect(later.version == revoked.version)
            let rows = try await fixture.admin.query(
                "SELECT count(*) FROM decisions WHERE request_id = \(view.id)", logger: logger)
            #expect(try await rows.decode(Int.self).first(where: { _ in true }) == 5)
        }
    }

    @Test("Personalunion: Sina owns Parkraumbelegung and stewards Mobilität; one decision covers both")
    func personalUnion() async throws {
        try await ServiceFixture.with { fixture in
            let created = try await fixture.shared("parkraumbelegung")
            let inbox = try await fixture.service.inbox(caller: People.sina, now: Clock.days(1), logger: logger)
            #expect(inbox.map(\.request.id) == [created.id])
            #expect(inbox.first?.role == "data_owner")
            let granted = try await fixture.decide(created, by: People.sina, at: Clock.days(1))
            #expect(granted.status.phase == .granted)
            #expect(granted.decisions.count == 1)
            #expect(granted.decisions[0].covers == ["owner_review", "steward_review"])
            #expect(granted.timeline[1].status == .skipped)
            #expect(granted.timeline[1].skipReason == .personalUnion)
        }
    }

    @Test("Shared Data rejected by the owner")
    func sharedRejected() async throws {
        try await ServiceFixture.with { fixture in
            let created = try await fixture.shared("luftmessstationen")
            let rejected = try await fixture.decide(
                created, by: People.otto, .reject(reason: "Die Messreihe ist noch nicht validiert."), at: Clock.days(1))
            #expect(rejected.status.phase == .closed)
            #expect(rejected.status.end == "rejected")
            #expect(rejected.timeline.first?.status == .rejected)
            #expect(try await fixture.outboxTopics(request: created.id).last == "rejected")
        }
    }

    @Test("Shared Data withdrawn while in review; the waiting owner is told and timers are cancelled")
    func sharedWithdrawn() async throws {
        try await ServiceFixture.with { fixture in
            let created = try await fixture.shared("laermkartierung")
            let withdrawn = try await fixture.service.withdraw(
                requestID: created.id, comment: "Hat sich erledigt", caller: People.anna, now: Clock.days(1),
                logger: logger)
            #expect(withdrawn.status.end == "withdrawn")
            #expect(try await fixture.outboxTopics(request: created.id).last == "withdrawn")
            let rows = try await fixture.admin.query(
                "SELECT count(*) FROM timers WHERE request_id = \(created.id) AND cancelled_at IS NULL AND fired_at IS NULL",
                logger: logger)
            #expect(try await rows.decode(Int.self).first(where: { _ in true }) == 0)
            #expect(try await fixture.service.fireDueTimers(now: Clock.days(30), logger: logger) == 0)
        }
    }

    @Test("a draft is saved, then submitted; a draft can be withdrawn")
    func draftThenSubmit() async throws {
        try await ServiceFixture.with { fixture in
            let draft = try await fixture.shared("radverkehrsnetz", submit: false)
            #expect(draft.status.phase == .draft)
            #expect(draft.allowedActions == [.submit, .edit, .withdraw])
            #expect(try await fixture.auditEvents(request: draft.id) == ["created"])
            let submitted = try await fixture.service.submit(
                requestID: draft.id, caller: People.anna, now: Clock.days(1), expectedVersion: draft.version,
                logger: logger)
            #expect(submitted.status.step == "owner_review")
            #expect(submitted.submittedAt == Clock.days(1))
            let other = try await fixture.shared("radverkehrsnetz", submit: false)
            let withdrawn = try await fixture.service.withdraw(
                requestID: other.id, caller: People.anna, now: Clock.days(1), logger: logger)
            #expect(withdrawn.status.end == "withdrawn")
            let mine = try await fixture.service.myRequests(caller: People.anna, now: Clock.days(2), logger: logger)
            #expect(Set(mine.map(\.id)) == [draft.id, other.id])
            let closed = try await fixture.service.myRequests(
                caller: People.anna, query: RequestQuery(phase: .closed), now: Clock.days(2), logger: logger)
            #expect(closed.map(\.id) == [other.id])
        }
    }

    /// Lärmkartierung is internal: its ISB step applies for a recipient outside the administration. A
    /// draft is shown as its submission will route it: after an edit that names such a recipient, and
    /// after the catalogue raised the dataset to confidential; before, it kept the facts of its first save.
    @Test("a draft is shown as it will be routed: after an edit, and after the catalogue changed")
    func draftIsRoutedAsNow() async throws {
        try await ServiceFixture.with { fixture in
            func security(_ view: RequestView) -> TimelineStep.Status? {
                view.timeline.first { $0.id == "security_review" }?.status
            }
            let draft = try await fixture.shared("laermkartierung", submit: false)
            #expect(security(draft) == .skipped)
            let edited = try await fixture.service.editDraft(
                requestID: draft.id,
                changes: RequestDetails.Patch(
                    values: RequestDetails(recipient: RecipientInput(name: "Hochschule", type: .external)),
                    given: [.recipient]),
                caller: People.anna, now: Clock.start, logger: logger)
            #expect(security(edited) == .pending)
            let read = try await fixture.service.request(
                id: draft.id, caller: People.anna, now: Clock.start, logger: logger)
            #expect(security(read) == .pending)
            // A draft edited before 2026-12-05 kept the access end of its first save in its snapshot: it is
            // read all the same (its submission derives it again).
            try await fixture.admin.query(
                "UPDATE requests SET snapshot = jsonb_set(snapshot, '{accessEnd}', '0') WHERE id = \(draft.id)",
                logger: logger)
            let older = try await fixture.service.request(
                id: draft.id, caller: People.anna, now: Clock.start, logger: logger)
            #expect(security(older) == .pending)

            let other = try await fixture.shared("laermkartierung", submit: false)
            #expect(security(other) == .skipped)
            _ = try await fixture.service.upsertDataset(
                DatasetInput(
                    id: "laermkartierung", title: "Lärmkartierung", domain: "umwelt", owner: "otto",
                    classification: .confidential, personalData: PersonalDataCategory.none, protectionNeed: .normal,
                    licence: nil, formats: ["GeoJSON"]),
                caller: People.adam, now: Clock.start, logger: logger)
            let reclassified = try await fixture.service.request(
                id: other.id, caller: People.anna, now: Clock.start, logger: logger)
            #expect(security(reclassified) == .pending)
            let submitted = try await fixture.service.submit(
                requestID: other.id, caller: People.anna, now: Clock.start, logger: logger)
            #expect(security(submitted) == .pending, "the submission routes as the draft's page said")
        }
    }

    @Test("a question and the answer: changes requested, resubmitted to the same step, then granted")
    func requestChangesAndResubmit() async throws {
        try await ServiceFixture.with { fixture in
            let created = try await fixture.shared("verkehrszaehlung")
            let asked = try await fixture.decide(
                created, by: People.volker, .requestChanges(question: "Welche Zählstellen genau?"), at: Clock.days(1))
            #expect(asked.status.phase == .changesRequested)
            #expect(asked.status.question == "Welche Zählstellen genau?")
            #expect(asked.allowedActions.isEmpty)
            let mine = try await fixture.service.request(
                id: created.id, caller: People.anna, now: Clock.days(1), logger: logger)
            #expect(mine.allowedActions == [.resubmit, .withdraw])
            let answered = try await fixture.service.resubmit(
                requestID: created.id,
                changes: Resubmission(
                    comment: "Alle Dauerzählstellen",
                    changes: RequestDetails.Patch(
                        values: RequestDetails(purpose: "Planung, nur Dauerzählstellen"), given: [.purpose])),
                caller: People.anna, now: Clock.days(2), logger: logger)
            #expect(answered.status.step == "owner_review")
            #expect(answered.purpose == "Planung, nur Dauerzählstellen")
            // The answer as the request's page shows it, read in the page's one statement: its time is the
            // stored one to the microsecond, as PostgresNIO decodes the column.
            let read = try await fixture.service.request(
                id: created.id, caller: People.volker, now: Clock.days(2), logger: logger)
            var stored: [Date] = []
            for try await at in try await fixture.admin.query(
                "SELECT occurred_at FROM audit_events WHERE request_id = \(created.id) AND event = 'resubmitted'",
                logger: logger
            ).decode(Date.self) { stored.append(at) }
            #expect(stored.count == 1)
            #expect(
                read.answers == [
                    AnswerView(
                        person: "anna", step: "owner_review", text: "Alle Dauerzählstellen",
                        at: try #require(stored.first))
                ])
            // Volker asked, and may now decide the same step again.
            let approved = try await fixture.decide(answered, by: People.volker, at: Clock.days(3))
            let granted = try await fixture.decide(approved, by: People.sina, at: Clock.days(3))
            #expect(granted.status.phase == .granted)
        }
    }

    @Test("Open Data of public data: owner, steward, legal review skipped, the Open Data officer publishes")
    func openPublished() async throws {
        try await ServiceFixture.with { fixture in
            let created = try await fixture.open("baumkataster")
            #expect(created.workflow.id == "open-data")
            var view = try await fixture.decide(created, by: People.otto, at: Clock.days(1))
            view = try await fixture.decide(view, by: People.stefan, at: Clock.days(2))
            #expect(view.status.step == "publication")
            let before = try await fixture.counts()
            await expectServiceError(.validation) {
                try await fixture.decide(view, by: People.olga, at: Clock.days(3))
            }.map { #expect(Set($0.fieldErrors.keys) == ["licence", "portal_url"]) }
            #expect(try await fixture.counts() == before)
            let published = try await fixture.decide(
                view, by: People.olga,
                .approve(
                    comment: nil, licence: "Datenlizenz Deutschland – Zero – Version 2.0",
                    portalURL: "https://opendata.stadt.example/dataset/baumkataster"),
                at: Clock.days(3))
            #expect(published.status.phase == .published)
            #expect(published.decisions.last?.portalURL == "https://opendata.stadt.example/dataset/baumkataster")
            #expect(published.allowedActions.isEmpty)
            #expect(try await fixture.outboxTopics(request: created.id).last == "published")
        }
    }

    @Test("Open Data of anonymised data: the DSB branch of the parallel legal review applies")
    func openWithDSB() async throws {
        try await ServiceFixture.with { fixture in
            let created = try await fixture.open(
                "bevoelkerungsprognose", anonymisation: "Aggregiert auf Stadtbezirke, Zellen unter 5 unterdrückt.")
            var view = try await fixture.decide(created, by: People.marta, at: Clock.days(1))
            view = try await fixture.decide(view, by: People.bea, at: Clock.days(1))
            #expect(view.status.step == "legal_review")
            #expect(view.status.waitingFor == ["dsb"])
            #expect(view.timeline[2].branches.map(\.applies) == [true, false, false])
            view = try await fixture.decide(view, by: People.dora, at: Clock.days(2))
            #expect(view.status.step == "publication")
            view = try await fixture.decide(
                view, by: People.olga,
                .approve(
                    comment: "Veröffentlicht", licence: "CC BY 4.0", portalURL: "https://opendata.stadt.example/p"),
                at: Clock.days(3))
            #expect(view.status.phase == .published)
        }
    }

    @Test("Open Data rejected, and Open Data withdrawn")
    func openRejectedAndWithdrawn() async throws {
        try await ServiceFixture.with { fixture in
            let first = try await fixture.open("luftmessstationen")
            let rejected = try await fixture.decide(
                first, by: People.otto, .reject(reason: "Lizenzfragen offen"), at: Clock.days(1))
            #expect(rejected.status.end == "rejected")
            let second = try await fixture.open("radverkehrsnetz")
            let withdrawn = try await fixture.service.withdraw(
                requestID: second.id, caller: People.anna, now: Clock.days(1), logger: logger)
            #expect(withdrawn.status.end == "withdrawn")
        }
    }

    @Test("a user name with an umlaut works end to end")
    func umlautUser() async throws {
        try await ServiceFixture.with { fixture in
            let created = try await fixture.shared("baumkataster", by: People.juergen)
            #expect(created.requester == "jürgen")
            let mine = try await fixture.service.myRequests(caller: People.juergen, now: Clock.days(1), logger: logger)
            #expect(mine.map(\.id) == [created.id])
            let rows = try await fixture.admin.query(
                "SELECT host(client_address) FROM audit_events WHERE request_id = \(created.id) AND actor = 'jürgen' LIMIT 1",
                logger: logger)
            #expect(try await rows.decode(String.self).first(where: { _ in true }) == "2001:db8::7")
        }
    }
    /// Open-data v3 (asking a legal basis of every request) is deployed, a draft moves to it, and v3 is
    /// taken back out (its file removed). The draft never moves back, so it is submitted under v3: its
    /// form must ask what v3 asks, not what the v2 in force would (it showed no legal basis field, and
    /// the submission then refused the missing legal basis).
    @Test("a draft of a workflow version rolled back: its form asks what its submission checks")
    func draftFormAfterRollback() async throws {
        try await ServiceFixture.with { fixture in
            let v2 = try String(contentsOfFile: TestSupport.workflowsDirectory + "/open-data.yaml", encoding: .utf8)
            let v3 =
                v2.replacingOccurrences(of: "\nversion: 2\n", with: "\nversion: 3\n")
                .replacingOccurrences(
                    of: "submit_requires:\n",
                    with: """
                        submit_requires:
                          - field: legal_basis
                            message: { de: Bitte nennen Sie die Rechtsgrundlage., en: Please state the legal basis. }

                        """)
            #expect(v3.contains("version: 3") && v3.contains("field: legal_basis"))
            let service = { (written: [String: String]) in
                RequestService(
                    client: fixture.app,
                    workflows: try StoreTestSupport.workflows(
                        keeping: { $0 != "open-data.v1.yaml" && !written.keys.contains($0) }, written: written),
                    calendar: StoreTestSupport.calendar, principals: People.resolver)
            }
            let withV3 = try service(["open-data.yaml": v3])
            let draft = try await openDataDraft(withV3)
            #expect(draft.workflow.version == 3)
            let rolledBack = try service([:])
            let view = try await rolledBack.request(id: draft.id, caller: People.anna, now: Clock.start, logger: logger)
            #expect(view.workflow.version == 3, "the page keeps the draft's version")
            let form = try await rolledBack.requestForm(of: view, now: Clock.start, logger: logger)
            #expect(form.required.keys.contains(.legalBasis), "\(form.required.keys)")
            // What the form asks is what the submission refuses without.
            do {
                _ = try await rolledBack.submit(
                    requestID: draft.id, caller: People.anna, now: Clock.start, logger: logger)
                Issue.record("submitted without the legal basis v3 asks for")
            } catch let error as ServiceError {
                #expect(error.code == .validation, "\(error)")
                #expect(error.fieldErrors.keys.contains("legal_basis"), "\(error.fieldErrors)")
            }
            // A draft of the version in force follows it as before.
            let current = try await openDataDraft(rolledBack)
            let currentView = try await rolledBack.request(
                id: current.id, caller: People.anna, now: Clock.start, logger: logger)
            let currentForm = try await rolledBack.requestForm(of: currentView, now: Clock.start, logger: logger)
            #expect(!currentForm.required.keys.contains(.legalBasis))
        }
    }

    /// A draft is not in flight: saved while only open-data v1 was deployed and submitted after v2 came,
    /// it follows v2, whose exclusions route a personal reference the requester states to the DSB (v1
    /// would skip the whole review for data catalogued without personal data).
    @Test("a draft saved under an older workflow version is submitted under the one in force")
    func draftFollowsTheWorkflowInForce() async throws {
        try await ServiceFixture.with { fixture in
            let before = RequestService(
                client: fixture.app,
                workflows: try StoreTestSupport.workflows(keeping: ["shared-data.yaml", "open-data.v1.yaml"].contains),
                calendar: StoreTestSupport.calendar, principals: People.resolver)
            var check = ServiceFixture.noConcerns
            check.personalReference = CheckAnswer(applies: true, note: "Namen von Baumpat:innen")
            let draft = try await before.createRequest(
                NewRequest(
                    kind: .openData, datasetID: "baumkataster",
                    details: RequestDetails(
                        purpose: "Veröffentlichung im Open-Data-Portal", licence: "dl-de-zero-2.0", format: "CSV",
                        openDataCheck: check),
                    submit: false),
                caller: People.anna, now: Clock.start, logger: logger)
            #expect(draft.workflow.version == 1)
            // Its page shows it as it will go, by the version in force.
            let shown = try await fixture.service.request(
                id: draft.id, caller: People.anna, now: Clock.start, logger: logger)
            #expect(shown.workflow.version == 2)
            let submitted = try await fixture.service.submit(
                requestID: draft.id, caller: People.anna, now: Clock.start, logger: logger)
            #expect(submitted.workflow.version == 2)
            let atStewards = try await fixture.decide(submitted, by: People.otto, at: Clock.start)
            let atReview = try await fixture.decide(atStewards, by: People.stefan, at: Clock.start)
            #expect(atReview.status.step == "legal_review")
            #expect(atReview.status.waitingFor == ["dsb"])
            // The stored definition is the one it follows now: what `audit verify` reads it with.
            let stored = try await fixture.app.query(
                "SELECT workflow_version FROM requests WHERE id = \(draft.id)", logger: logger
            ).decode(Int.self).first(where: { _ in true })
            #expect(stored == 2)
            // Never back: an instance still on v1 (a rolling deployment) leaves a v2 draft at v2.
            let newer = try await openDataDraft(fixture.service)
            let sentByOld = try await before.submit(
                requestID: newer.id, caller: People.anna, now: Clock.start, logger: logger)
            #expect(sentByOld.workflow.version == 2)
            // Someone else's draft: refused, and no definition is stored on their behalf.
            await #expect(throws: ServiceError.self) {
                try await fixture.service.submit(
                    requestID: newer.id, caller: People.otto, now: Clock.start, logger: logger)
            }
        }
    }
}

extension LifecycleTests {
    /// anna's Open Data draft of baumkataster, its Open Data check answered with no concerns.
    func openDataDraft(_ service: RequestService) async throws -> RequestView {
        try await service.createRequest(
            NewRequest(
                kind: .openData, datasetID: "baumkataster",
                details: RequestDetails(
                    purpose: "Veröffentlichung im Open-Data-Portal", licence: "dl-de-zero-2.0", format: "CSV",
                    openDataCheck: ServiceFixture.noConcerns),
                submit: false),
            caller: People.anna, now: Clock.start, logger: logger)
    }
}
