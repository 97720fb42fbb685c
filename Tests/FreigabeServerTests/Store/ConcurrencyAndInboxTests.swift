import Foundation
import Logging
import PostgresNIO
import Testing
import WorkflowEngine

@testable import FreigabeServer

@Suite("Concurrency, idempotency, inbox and deputies")
struct ConcurrencyAndInboxTests {
    let logger = StoreTestSupport.logger

    /// A Shared Data request of Meldestatistik waiting for the DSB step.
    func atPrivacyReview(_ fixture: ServiceFixture) async throws -> RequestView {
        let created = try await fixture.shared("meldestatistik", legalBasis: "Art. 6 Abs. 1 lit. e DSGVO")
        let owner = try await fixture.decide(created, by: People.marta, at: Clock.days(1))
        return try await fixture.decide(owner, by: People.bea, at: Clock.days(1))
    }

    @Test("two DSBs deciding the same step at once: exactly one transition, the other a conflict")
    func concurrentDecisions() async throws {
        try await ServiceFixture.with { fixture in
            for round in 0..<3 {
                let waiting = try await atPrivacyReview(fixture)
                #expect(waiting.status.step == "privacy_review")
                let before = try await fixture.counts()
                let outcomes = await withTaskGroup(of: Result<RequestView, ServiceError>.self) { group in
                    for dsb in [People.dora, People.dirk] {
                        group.addTask {
                            do throws(ServiceError) {
                                return .success(
                                    try await fixture.service.decide(
                                        requestID: waiting.id, decision: approve, caller: dsb, now: Clock.days(2),
                                        expectedVersion: waiting.version, logger: logger))
                            } catch {
                                return .failure(error)
                            }
                        }
                    }
                    var all: [Result<RequestView, ServiceError>] = []
                    for await outcome in group { all.append(outcome) }
                    return all
                }
                let successes = outcomes.compactMap { try? $0.get() }
                let failures = outcomes.compactMap { if case .failure(let error) = $0 { error } else { nil } }
                #expect(successes.count == 1, "round \(round)")
                #expect(failures.map(\.code) == [.conflict], "round \(round): \(failures)")
                #expect(successes.first?.status.step == "security_review")
                let after = try await fixture.counts()
                #expect(after["decisions"] == before["decisions"]! + 1)
                #expect(after["audit_events"] == before["audit_events"]! + 1, "one approval, no refusal logged")
            }
        }
    }

    @Test(
        "without If-Match, 200 racing decisions make exactly one transition; every loser gets 409 naming the winner, and no security event is written"
    )
    func concurrentWithoutVersion() async throws {
        try await ServiceFixture.with { fixture in
            let waiting = try await atPrivacyReview(fixture)
            let before = try await fixture.counts()
            let outcomes = await withTaskGroup(of: Result<RequestView, ServiceError>.self) { group in
                for index in 0..<200 {
                    let dsb = index.isMultiple(of: 2) ? People.dora : People.dirk
                    group.addTask {
                        do throws(ServiceError) {
                            return .success(
                                try await fixture.service.decide(
                                    requestID: waiting.id, decision: approve, caller: dsb, now: Clock.days(2),
                                    logger: logger))
                        } catch {
                            return .failure(error)
                        }
                    }
                }
                var all: [Result<RequestView, ServiceError>] = []
                for await outcome in group { all.append(outcome) }
                return all
            }
            let winners = outcomes.compactMap { try? $0.get() }
            #expect(winners.count == 1)
            let losers = outcomes.compactMap { outcome -> ServiceError? in
                guard case .failure(let error) = outcome else { return nil }
                return error
            }
            #expect(losers.count == 199)
            #expect(losers.allSatisfy { $0.code == .conflict }, "\(Set(losers.map(\.code)))")
            // Whoever comes after the winner's commit is told who decided; the winner, that it was them.
            let winner = try #require(winners.first?.decisions.last?.person)
            let (winning, other) = winner == "dirk" ? (People.dirk, People.dora) : (People.dora, People.dirk)
            let late = await expectServiceError(.conflict) {
                try await fixture.service.decide(
                    requestID: waiting.id, decision: approve, caller: other, now: Clock.days(2), logger: logger)
            }
            #expect(late?.message.german.contains(winner) == true)
            let again = await expectServiceError(.conflict) {
                try await fixture.service.decide(
                    requestID: waiting.id, decision: approve, caller: winning, now: Clock.days(2), logger: logger)
            }
            #expect(again?.message.german.contains("Sie haben über diesen Schritt bereits am ") == true)
            let rows = try await fixture.admin.query(
                "SELECT count(*) FROM decisions WHERE request_id = \(waiting.id) AND step = 'privacy_review'",
                logger: logger)
            #expect(try await rows.decode(Int.self).first(where: { _ in true }) == 1)
            let after = try await fixture.counts()
            #expect(after["audit_events"] == before["audit_events"]! + 1, "one approval, no refusal logged")
        }
    }

    @Test("Idempotency-Key: a repeat answers the stored result without a second effect; another payload is refused")
    func idempotency() async throws {
        try await ServiceFixture.with { fixture in
            let first = try await fixture.shared("baumkataster", key: "create-1")
            let countsAfterFirst = try await fixture.counts()
            let repeated = try await fixture.shared("baumkataster", key: "create-1")
            #expect(repeated == first)
            #expect(try await fixture.counts() == countsAfterFirst)
            let mismatch = await expectServiceError(.idempotencyMismatch) {
                try await fixture.shared("luftmessstationen", key: "create-1")
            }
            #expect(
                mismatch?.message.german == "Dieser Idempotency-Key wurde bereits für eine andere Anfrage verwendet.")
            #expect(try await fixture.counts() == countsAfterFirst)
            // Keys are per person: Jürgen may use the same key.
            _ = try await fixture.shared("baumkataster", by: People.juergen, key: "create-1")

            let decided = try await fixture.service.decide(
                requestID: first.id, decision: approve, caller: People.otto, now: Clock.days(1),
                idempotencyKey: "decide-1", logger: logger)
            let countsAfterDecision = try await fixture.counts()
            let again = try await fixture.service.decide(
                requestID: first.id, decision: approve, caller: People.otto, now: Clock.days(1, after: Clock.days(1)),
                idempotencyKey: "decide-1", logger: logger)
            #expect(again == decided)
            #expect(try await fixture.counts() == countsAfterDecision, "no second decision, audit or outbox row")
            await expectServiceError(.idempotencyMismatch) {
                try await fixture.service.decide(
                    requestID: first.id, decision: .reject(reason: "doch nicht"), caller: People.otto,
                    now: Clock.days(1), idempotencyKey: "decide-1", logger: logger)
            }
            // After 24 hours a key may be used afresh.
            let later = try await fixture.shared("luftmessstationen", at: Clock.days(3), key: "create-1")
            #expect(later.id != first.id)

            // Expired keys are deleted, by the application's own role (each answer holds a whole request);
            // those of the last 24 hours stay and still answer.
            let expiry = IdempotencyKeyExpiry(client: fixture.app, logger: logger)
            #expect(try await expiry.deleteExpired(now: Clock.days(3)) == 2)
            let keys = try await fixture.admin.query(
                "SELECT actor || '/' || key FROM idempotency_keys ORDER BY actor", logger: logger)
            var left: [String] = []
            for try await key in keys.decode(String.self) { left.append(key) }
            #expect(left == ["anna/create-1"])
            #expect(try await fixture.shared("luftmessstationen", at: Clock.days(3), key: "create-1") == later)
            #expect(try await expiry.deleteExpired(now: Clock.days(3)) == 0)
            #expect(try await expiry.deleteExpired(now: Clock.days(5)) == 1)
        }
    }

    @Test("the same Idempotency-Key sent twice at once runs once")
    func concurrentSameKey() async throws {
        try await ServiceFixture.with { fixture in
            let before = try await fixture.counts()
            let ids = try await withThrowingTaskGroup(of: UUID.self) { group in
                for _ in 0..<3 {
                    group.addTask { try await fixture.shared("baumkataster", key: "double-click").id }
                }
                var ids: [UUID] = []
                for try await id in group { ids.append(id) }
                return ids
            }
            #expect(Set(ids).count == 1)
            let after = try await fixture.counts()
            #expect(after["requests"] == before["requests"]! + 1)
        }
    }

    @Test("inbox: own steps, as active deputy, and as escalation instance of overdue steps")
    func inboxDeputyEscalation() async throws {
        try await ServiceFixture.with { fixture in
            let service = fixture.service
            let trees = try await fixture.shared("baumkataster")
            let air = try await fixture.shared("luftmessstationen")
            let personal = try await atPrivacyReview(fixture)

            let ottoInbox = try await service.inbox(caller: People.otto, now: Clock.days(1), logger: logger)
            #expect(Set(ottoInbox.map(\.request.id)) == [trees.id, air.id])
            #expect(
                ottoInbox.allSatisfy { $0.capacity == .own && $0.role == "data_owner" && $0.step == "owner_review" })
            #expect(
                try await service.inbox(caller: People.dora, now: Clock.days(2), logger: logger).map(\.request.id) == [
                    personal.id
                ])
            #expect(try await service.inbox(caller: People.anna, now: Clock.days(1), logger: logger).isEmpty)
            #expect(try await service.inbox(caller: People.paul, now: Clock.days(1), logger: logger).isEmpty)

            // Otto names Paul his deputy for a week, starting tomorrow.
            let deputyship = try await service.createDeputyship(
                NewDeputyship(deputy: "paul", validFrom: Clock.days(2), validUntil: Clock.days(9)), caller: People.otto,
                now: Clock.days(1), logger: logger)
            #expect(!deputyship.active)
            #expect(try await service.inbox(caller: People.paul, now: Clock.days(1), logger: logger).isEmpty)
            let paulInbox = try await service.inbox(caller: People.paul, now: Clock.days(3), logger: logger)
            #expect(Set(paulInbox.map(\.request.id)) == [trees.id, air.id])
            #expect(paulInbox.allSatisfy { $0.capacity == .deputy && $0.actingFor == "otto" })
            // Before the deputyship starts Paul may not even see Otto's requests; during it he may decide,
            // recorded as acting for Otto.
            await expectServiceError(.notFound) {
                try await fixture.decide(trees, by: People.paul, at: Clock.days(1))
            }
            let decided = try await fixture.decide(trees, by: People.paul, at: Clock.days(3))
            #expect(decided.decisions.last?.person == "paul")
            #expect(decided.decisions.last?.actingFor == "otto")
            #expect(
                try await service.deputyships(caller: People.paul, now: Clock.days(3), logger: logger).map(\.id) == [
                    deputyship.id
                ])

            // Ended early: gone from Paul's inbox.
            let ended = try await service.endDeputyship(
                id: deputyship.id, caller: People.otto, now: Clock.days(4), logger: logger)
            #expect(!ended.active)
            #expect(ended.validUntil == Clock.days(4))
            #expect(try await service.inbox(caller: People.paul, now: Clock.days(5), logger: logger).isEmpty)
            await expectServiceError(.notFound) {
                try await service.endDeputyship(
                    id: deputyship.id, caller: People.anna, now: Clock.days(4), logger: logger)
            }

            // The owner step of the air data is overdue after 5 working days: Greta is told and may decide.
            #expect(try await service.inbox(caller: People.greta, now: Clock.days(2), logger: logger).isEmpty)
            _ = try await service.fireDueTimers(now: Clock.days(20), logger: logger)
            let gretaInbox = try await service.inbox(caller: People.greta, now: Clock.days(20), logger: logger)
            #expect(gretaInbox.map(\.request.id).contains(air.id))
            #expect(gretaInbox.first { $0.request.id == air.id }?.capacity == .escalation)
            #expect(gretaInbox.first { $0.request.id == air.id }?.overdue == true)
            // The DSB step escalated too, but Greta may never decide in the DSB's place.
            #expect(!gretaInbox.map(\.request.id).contains(personal.id))
            let escalated = try await service.request(
                id: personal.id, caller: People.greta, now: Clock.days(20), logger: logger)
            #expect(escalated.status.escalated)
            // Only close it, should nobody take the DSB's part (`DiscontinueTests`).
            #expect(escalated.allowedActions == [.discontinue])
            let byGreta = try await fixture.decide(
                try await service.request(id: air.id, caller: People.greta, now: Clock.days(20), logger: logger),
                by: People.greta, at: Clock.days(20))
            #expect(byGreta.decisions.last?.asEscalation == true)
            #expect(try await fixture.outboxTopics(request: air.id).contains("escalated"))
            // Fired with the escalation, after the deadline (no round ran before): "the deadline runs out
            // soon" is moot then.
            #expect(!(try await fixture.outboxTopics(request: air.id).contains("reminder")))
        }
    }

    /// An administrator may escalate a step to a catalogue role: the owner step of this Shared Data
    /// workflow goes to the domain's Data Steward when overdue. The engine lets the steward decide it as
    /// escalation instance, so it is in the steward's inbox, and in no one else's (not the governance
    /// office's, which the shipped file names).
    @Test("an owner step escalated to the Data Steward is in the steward's inbox as escalation")
    func escalationToCatalogueRole() async throws {
        let shipped = try String(
            contentsOfFile: StoreTestSupport.workflowsDirectory + "/shared-data.yaml", encoding: .utf8)
        let ownerDeadline =
            "role: data_owner\n    deadline: { working_days: 5, remind_before: 2, escalate_to: governance }"
        #expect(shipped.contains(ownerDeadline))
        let edited = shipped.replacingOccurrences(of: "version: 1\n", with: "version: 2\n")
            .replacingOccurrences(
                of: ownerDeadline, with: ownerDeadline.replacingOccurrences(of: "governance", with: "data_steward"))
        let workflows = try StoreTestSupport.workflows(
            keeping: { $0 != "shared-data.yaml" }, written: ["shared-data.yaml": edited])
        try await ServiceFixture.with(workflows: workflows) { fixture in
            let service = fixture.service
            let trees = try await fixture.shared("baumkataster")
            #expect(try await service.inbox(caller: People.stefan, now: Clock.days(1), logger: logger).isEmpty)
            _ = try await service.fireDueTimers(now: Clock.days(20), logger: logger)
            let inbox = try await service.inbox(caller: People.stefan, now: Clock.days(20), logger: logger)
            #expect(inbox.map(\.request.id) == [trees.id])
            #expect(inbox.first?.capacity == .escalation)
            #expect(try await service.inbox(caller: People.greta, now: Clock.days(20), logger: logger).isEmpty)
        }
    }

    /// Otto left the city (the directory no longer knows him) while the catalogue still names him as the
    /// owner: his deputy Paul can no longer act for him, not even as the owner the catalogue names.
    @Test("a principal the directory no longer knows lends their deputy nothing")
    func departedPrincipalLendsNothing() async throws {
        try await ServiceFixture.with { fixture in
            let trees = try await fixture.shared("baumkataster")
            _ = try await fixture.service.createDeputyship(
                NewDeputyship(deputy: "paul", validFrom: Clock.days(1), validUntil: Clock.days(9)),
                caller: People.otto, now: Clock.start, logger: logger)
            let afterOttoLeft = RequestService(
                client: fixture.app, workflows: StoreTestSupport.workflows, calendar: StoreTestSupport.calendar,
                principals: ClosurePrincipalResolver { uid in
                    uid.lowercased() == "otto" ? nil : try await People.resolver.entry(ofUID: uid)
                })
            #expect(try await fixture.service.inbox(caller: People.paul, now: Clock.days(2), logger: logger).count == 1)
            #expect(try await afterOttoLeft.inbox(caller: People.paul, now: Clock.days(2), logger: logger).isEmpty)
            let before = try await fixture.counts()
            await expectServiceError(.notFound) {
                try await afterOttoLeft.decide(
                    requestID: trees.id, decision: .approve(comment: nil, licence: nil, portalURL: nil),
                    caller: People.paul, now: Clock.days(2), logger: logger)
            }
            #expect(try await fixture.counts()["decisions"] == before["decisions"])
        }
    }

    /// An administrator hands baumkataster to bea while paul's decision for otto is judged (the directory
    /// lookup of otto is the moment): the engine judged paul on otto's ownership, which ended before the
    /// write. The write takes effect only while the holders it read still hold: a conflict, nothing written.
    @Test("a decision whose dataset changed owner while it was judged is a conflict; nothing written")
    func ownerChangedWhileJudged() async throws {
        try await ServiceFixture.with { fixture in
            let trees = try await fixture.shared("baumkataster")
            _ = try await fixture.service.createDeputyship(
                NewDeputyship(deputy: "paul", validFrom: Clock.days(1), validUntil: Clock.days(9)),
                caller: People.otto, now: Clock.start, logger: logger)
            let admin = fixture.admin
            let changing = RequestService(
                client: fixture.app, workflows: StoreTestSupport.workflows, calendar: StoreTestSupport.calendar,
                principals: ClosurePrincipalResolver { uid in
                    try await admin.query(
                        "UPDATE datasets SET owner = 'bea' WHERE id = 'baumkataster'", logger: StoreTestSupport.logger)
                    return try await People.resolver.entry(ofUID: uid)
                })
            let before = try await fixture.counts()
            await expectServiceError(.conflict) {
                try await changing.decide(
                    requestID: trees.id, decision: .approve(comment: nil, licence: nil, portalURL: nil),
                    caller: People.paul, now: Clock.days(2), logger: logger)
            }
            #expect(try await fixture.counts()["decisions"] == before["decisions"])
            #expect(try await fixture.counts()["outbox"] == before["outbox"])
        }
    }

    @Test("deputyships: validation and who may create them")
    func deputyshipRules() async throws {
        try await ServiceFixture.with { fixture in
            let service = fixture.service
            await expectServiceError(.validation) {
                try await service.createDeputyship(
                    NewDeputyship(deputy: "otto", validFrom: Clock.days(1), validUntil: Clock.days(2)),
                    caller: People.otto,
                    now: Clock.start, logger: logger)
            }
            let period = await expectServiceError(.validation) {
                try await service.createDeputyship(
                    NewDeputyship(deputy: "paul", validFrom: Clock.days(3), validUntil: Clock.days(2)),
                    caller: People.otto,
                    now: Clock.start, logger: logger)
            }
            #expect(period?.fieldErrors.keys.sorted() == ["valid_until"])
            // Less than a microsecond after the start is the start itself in the table (a CHECK there).
            let instant = await expectServiceError(.validation) {
                try await service.createDeputyship(
                    NewDeputyship(
                        deputy: "paul", validFrom: Clock.days(3), validUntil: Clock.days(3).addingTimeInterval(4e-7)),
                    caller: People.otto, now: Clock.start, logger: logger)
            }
            #expect(instant?.fieldErrors.keys.sorted() == ["valid_until"])
            let before = try await fixture.counts()
            // A deputy the directory does not know could never act; the own uid in other letters is oneself.
            let unknown = await expectServiceError(.validation) {
                try await service.createDeputyship(
                    NewDeputyship(deputy: "niemand", validFrom: Clock.days(1), validUntil: Clock.days(2)),
                    caller: People.otto, now: Clock.start, logger: logger)
            }
            #expect(unknown?.fieldErrors.keys.sorted() == ["deputy"])
            let unknownPrincipal = await expectServiceError(.validation) {
                try await service.createDeputyship(
                    NewDeputyship(
                        principal: "niemand", deputy: "paul", validFrom: Clock.days(1), validUntil: Clock.days(2)),
                    caller: People.adam, now: Clock.start, logger: logger)
            }
            #expect(unknownPrincipal?.fieldErrors.keys.sorted() == ["principal"])
            let oneself = await expectServiceError(.validation) {
                try await service.createDeputyship(
                    NewDeputyship(deputy: "OTTO", validFrom: Clock.days(1), validUntil: Clock.days(2)),
                    caller: People.otto, now: Clock.start, logger: logger)
            }
            #expect(oneself?.fieldErrors.keys.sorted() == ["deputy"])
            #expect(try await fixture.counts() == before)
            // A directory that does not answer is named as such (the page said the database was down).
            let noDirectory = RequestService(
                client: fixture.app, workflows: StoreTestSupport.workflows, calendar: StoreTestSupport.calendar,
                principals: ClosurePrincipalResolver { _ in throw CancellationError() })
            let down = await expectServiceError(.unavailable) {
                try await noDirectory.createDeputyship(
                    NewDeputyship(deputy: "paul", validFrom: Clock.days(1), validUntil: Clock.days(2)),
                    caller: People.otto, now: Clock.start, logger: logger)
            }
            #expect(down?.message.key == "messages.general.directory_unavailable")
            #expect(try await fixture.counts() == before)
            let spelled = try await service.createDeputyship(
                NewDeputyship(deputy: "PAUL", validFrom: Clock.days(1), validUntil: Clock.days(2)),
                caller: People.otto, now: Clock.start, logger: logger)
            #expect(spelled.deputy == "paul")
            // Their own uid in other letters as the principal: oneself, not someone else (no refusal, no
            // security event), stored as the directory spells it.
            let beforeOwn = try await fixture.counts()
            let ownSpelled = try await service.createDeputyship(
                NewDeputyship(principal: "OTTO", deputy: "paul", validFrom: Clock.days(3), validUntil: Clock.days(4)),
                caller: People.otto, now: Clock.start, logger: logger)
            #expect(ownSpelled.principal == "otto")
            #expect(try await fixture.counts()["deputyships"] == beforeOwn["deputyships"]! + 1)
            #expect(
                try await fixture.admin.query(
                    "SELECT count(*)::int FROM audit_events WHERE event = 'forbidden'", logger: logger
                ).decode(Int.self).first(where: { _ in true }) == 0)
            let afterSpelled = try await fixture.counts()
            await expectServiceError(.forbidden) {
                try await service.createDeputyship(
                    NewDeputyship(
                        principal: "otto", deputy: "anna", validFrom: Clock.days(1), validUntil: Clock.days(2)),
                    caller: People.anna, now: Clock.start, logger: logger)
            }
            #expect(try await fixture.counts()["audit_events"] == afterSpelled["audit_events"]! + 1)
            let byAdmin = try await service.createDeputyship(
                NewDeputyship(principal: "otto", deputy: "anna", validFrom: Clock.days(1), validUntil: Clock.days(2)),
                caller: People.adam, now: Clock.start, logger: logger)
            #expect(byAdmin.createdBy == "adam")
            // An administrator never makes themselves someone's deputy (they could then decide as the DSB).
            let afterByAdmin = try await fixture.counts()
            let selfAppointed = await expectServiceError(.forbidden) {
                try await service.createDeputyship(
                    NewDeputyship(
                        principal: "dora", deputy: "ADAM", validFrom: Clock.days(1), validUntil: Clock.days(2)),
                    caller: People.adam, now: Clock.start, logger: logger)
            }
            #expect(selfAppointed?.message == UserText("deputyship.admin_not_own_deputy"))
            #expect(try await fixture.counts()["deputyships"] == afterByAdmin["deputyships"])
            #expect(try await fixture.counts()["audit_events"] == afterByAdmin["audit_events"]! + 1)
            #expect(
                Set(try await service.deputyships(caller: People.otto, now: Clock.start, logger: logger).map(\.id)) == [
                    spelled.id, ownSpelled.id, byAdmin.id,
                ])
        }
    }

    @Test("who may read a request: requester, deciders, owner, stewards, auditors, admins; not others")
    func visibility() async throws {
        try await ServiceFixture.with { fixture in
            let request = try await atPrivacyReview(fixture)
            for caller in [
                People.anna, People.marta, People.bea, People.dora, People.dirk, People.ingo, People.alex, People.adam,
                People.greta,
            ] {
                let view = try await fixture.service.request(
                    id: request.id, caller: caller, now: Clock.days(2), logger: logger)
                #expect(view.id == request.id, "\(caller.uid)")
            }
            // Those who see it only by their office (auditor, administrator) are logged as reading it.
            let reads = try await fixture.admin.query(
                """
                SELECT actor, role, dataset_id, details->>'view' FROM audit_events
                WHERE event = 'audit_read' AND request_id = \(request.id) ORDER BY id
                """, logger: logger)
            var readers: [String] = []
            for try await (actor, role, dataset, view) in reads.decode((String, String, String?, String).self) {
                readers.append("\(actor) \(role) \(dataset ?? "-") \(view)")
            }
            #expect(readers == ["alex auditor meldestatistik request", "adam admin meldestatistik request"])
            for caller in [People.otto, People.stefan, People.olga, People.paul, People.juergen] {
                await expectServiceError(.notFound) {
                    try await fixture.service.request(
                        id: request.id, caller: caller, now: Clock.days(2), logger: logger)
                }
            }
        }
    }

    @Test(
        "who may read: DSB and ISB see Shared Data only where their step applies, also once granted (revoking is no reason to see)"
    )
    func visibilityByApplyingSteps() async throws {
        try await ServiceFixture.with { fixture in
            // Public, non-personal data: only the owner and the steward decide; privacy and security are skipped.
            let created = try await fixture.shared("baumkataster")
            let owner = try await fixture.decide(created, by: People.otto, at: Clock.days(1))
            let granted = try await fixture.decide(owner, by: People.stefan, at: Clock.days(1))
            #expect(granted.status.phase == .granted)
            for caller in [People.anna, People.otto, People.stefan, People.greta, People.alex, People.adam] {
                let view = try await fixture.service.request(
                    id: granted.id, caller: caller, now: Clock.days(2), logger: logger)
                #expect(view.id == granted.id, "\(caller.uid)")
            }
            for caller in [People.dora, People.dirk, People.ingo, People.olga, People.paul, People.juergen] {
                await expectServiceError(.notFound) {
                    try await fixture.service.request(
                        id: granted.id, caller: caller, now: Clock.days(2), logger: logger)
                }
            }
            // The DSB may revoke where the privacy step applied, not here: for them the request does not exist.
            await expectServiceError(.notFound) {
                try await fixture.service.revoke(
                    requestID: granted.id, reason: "Bedenken", caller: People.dora, now: Clock.days(2), logger: logger)
            }
        }
    }
}
