import AuditLog
import Foundation
import Logging
import PostgresNIO
import Testing

@testable import FreigabeServer

/// `freigabe audit redact`: personal payloads erased after the retention period while the log still
/// verifies, the one narrow database path for it, and every way around it found.
@Suite("Decision log: erasure after the retention period")
struct AuditRedactionTests {
    let logger = StoreTestSupport.logger
    static let signer = AuditSealTests.signer
    /// Monday 3 March 2014, 09:00 CET: far enough back for a retention of ten years.
    static let old = Clock.date("2014-03-03T08:00:00Z")
    static let now = Date()
    /// The one event of the 2014 request that held a comment: Stefan's approval.
    static let stefansOldDecision = "actor = 'stefan' AND decision IS NOT NULL AND occurred_at < '2016-01-01'"

    func order(
        _ before: String = "2016-01-01", actor: String? = "revision"
    ) throws(RedactionRefusal) -> AuditRedaction.Order {
        try AuditRedaction.order(before: before, actor: actor, osUser: "root", retentionYears: 10, now: Self.now)
    }

    /// The payload hash sealed for the event `target` (an SQL condition on `audit_events`): what a forger
    /// keeps in the seal so that the leaf still matches after the texts are blanked.
    func payloadHash(_ fixture: ServiceFixture, of target: String) async throws -> SHA256Hash {
        let sealed = try await fixture.admin.query(
            """
            SELECT \(unescaped: SealedEvent.columns) FROM \(unescaped: SealedEvent.tables)
            WHERE \(unescaped: "e." + target)
            """, logger: logger
        ).collect()
        return try SealedEvent(try #require(sealed.first)).payloadHash
    }

    /// The complete JSON Lines export, checked offline against the newest signed checkpoint as an auditor
    /// would with their outside copy (`folder` holds `audit.pub`).
    func checkCompleteExportOffline(
        _ fixture: ServiceFixture, in folder: AuditExportTests.Folder
    ) async throws -> ToolOutput {
        let checkpoint = try await fixture.admin.query(
            "SELECT signed_note FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1", logger: logger
        ).decode(String.self).first(where: { _ in true })
        try (try #require(checkpoint) + "\n").write(
            toFile: folder.path("checkpoints.txt"), atomically: true, encoding: .utf8)
        _ = try await AuditExporter(query: AuditQuery(client: fixture.app)).export(
            AuditFilter(), format: .jsonl, to: try ExportOutput.open(folder.path("all.jsonl")), logger: logger)
        return AuditTool.verifyExport(
            exportFile: folder.path("all.jsonl"), checkpointFile: folder.path("checkpoints.txt"),
            publicKeyFile: folder.path("audit.pub"))
    }

    func verify(_ fixture: ServiceFixture) async throws -> AuditVerification.Report {
        try await AuditVerification(
            client: fixture.admin, keys: TrustedKeys(Self.signer.verifierKey), appRole: "freigabe_app"
        )
        .run(logger: logger)
    }

    /// A granted request in 2014 (its comment and client addresses are due) and one in 2026 (kept), sealed.
    func sealedHistory(_ fixture: ServiceFixture) async throws -> AuditSealer {
        let created = try await fixture.shared("baumkataster", at: Self.old)
        let owner = try await fixture.decide(created, by: People.otto, at: Clock.days(1, after: Self.old))
        _ = try await fixture.decide(
            owner, by: People.stefan, .approve(comment: "Alte Begründung", licence: nil, portalURL: nil),
            at: Clock.days(2, after: Self.old))
        // Closed in 2014: its own copies of the texts go with the log's payloads.
        _ = try await fixture.decide(
            try await fixture.shared("meldestatistik", legalBasis: "Art. 6 Abs. 1 lit. e DSGVO", at: Self.old),
            by: People.marta, .reject(reason: "Nicht erforderlich."), at: Clock.days(1, after: Self.old))
        let recent = try await fixture.shared("baumkataster")
        _ = try await fixture.decide(
            recent, by: People.otto, .approve(comment: "Neue Begründung", licence: nil, portalURL: nil),
            at: Clock.days(1))
        let sealer = AuditSealer(client: fixture.app, signer: Self.signer, checkpointFile: nil)
        _ = try await sealer.sealAll(now: Clock.days(2), logger: logger)
        return sealer
    }

    func strings(_ fixture: ServiceFixture, _ sql: PostgresQuery) async throws -> [String] {
        var result: [String] = []
        for try await text in try await fixture.admin.query(sql, logger: logger).decode(String.self) {
            result.append(text)
        }
        return result
    }

    func expectRefused(
        _ fixture: ServiceFixture, _ client: PostgresClient, _ sql: PostgresQuery, state: String = "42501",
        sourceLocation: SourceLocation = #_sourceLocation
    ) async {
        do {
            // A SELECT's error arrives with its rows: read them all.
            for try await _ in try await client.query(sql, logger: logger) {}
            Issue.record("ran: \(sql.sql)", sourceLocation: sourceLocation)
        } catch {
            #expect(
                Database.sqlState(of: error) == state, "\(String(reflecting: error))", sourceLocation: sourceLocation)
        }
    }

    @Test("payloads before the date are erased, the tree is unchanged, verify holds and names the erasure")
    func erasesAndStillVerifies() async throws {
        try await ServiceFixture.with { fixture in
            let sealer = try await sealedHistory(fixture)
            let leavesBefore = try await strings(
                fixture, "SELECT encode(leaf_hash, 'hex') FROM audit_seals ORDER BY sequence")
            let rowsBefore = try await strings(
                fixture,
                "SELECT concat_ws('|', id, occurred_at, actor, acting_for, role, request_id, dataset_id, event, decision, step, state) FROM audit_events ORDER BY id"
            )
            let due = try await strings(
                fixture,
                "SELECT e.id::text FROM audit_events e JOIN audit_seals s ON s.event_row = e.id WHERE e.occurred_at < '2016-01-01' ORDER BY e.id"
            )
            #expect(due.count >= 3)

            #expect(
                try await strings(
                    fixture,
                    "SELECT DISTINCT r.dataset_id FROM outbox o JOIN requests r ON r.id = o.request_id ORDER BY 1")
                    == ["baumkataster", "meldestatistik"])
            let outcome = try await AuditRedaction(client: fixture.admin).run(try order(), logger: logger)
            #expect(outcome.erasedCount == due.count)
            #expect(outcome.databaseRole == "freigabe_admin")
            let redactionID = try #require(outcome.redactionID)

            // The old texts are gone, salt included; the new ones stay.
            #expect(
                try await strings(fixture, "SELECT comment FROM audit_events WHERE comment IS NOT NULL")
                    == ["Neue Begründung"])
            #expect(outcome.requestCount == 1)
            // The closed request's texts are gone everywhere; its facts stay. The granted one keeps its own.
            // Its notifications went with it; the others' stay.
            #expect(
                try await strings(
                    fixture,
                    "SELECT DISTINCT r.dataset_id FROM outbox o JOIN requests r ON r.id = o.request_id ORDER BY 1")
                    == ["baumkataster"])
            let requests = try await strings(
                fixture,
                """
                SELECT concat_ws('|', dataset_id, state, purpose, coalesce(legal_basis, '∅'),
                    snapshot::text LIKE '%Nicht erforderlich%', redaction_id IS NOT NULL)
                FROM requests ORDER BY created_at, dataset_id
                """)
            #expect(
                requests == [
                    "baumkataster|granted:granted|Planung der Grünflächen 2027|∅|f|f",
                    "meldestatistik|closed:rejected|-|∅|f|t",
                    "baumkataster|in_review:steward_review|Planung der Grünflächen 2027|∅|f|f",
                ])
            #expect(
                try await strings(fixture, "SELECT comment FROM decisions WHERE comment IS NOT NULL ORDER BY id")
                    == ["Alte Begründung", "Neue Begründung"])
            #expect(
                try await strings(
                    fixture,
                    "SELECT e.id::text FROM audit_events e JOIN audit_seals s ON s.event_row = e.id WHERE s.payload_salt IS NULL AND e.details = '{}' AND e.client_address IS NULL AND s.redaction_id = \(redactionID) ORDER BY e.id"
                ) == due)
            // Events and leaves as sealed: only the redaction event is new.
            #expect(
                try await strings(fixture, "SELECT encode(leaf_hash, 'hex') FROM audit_seals ORDER BY sequence")
                    == leavesBefore)
            let rowsAfter = try await strings(
                fixture,
                "SELECT concat_ws('|', id, occurred_at, actor, acting_for, role, request_id, dataset_id, event, decision, step, state) FROM audit_events ORDER BY id"
            )
            #expect(Array(rowsAfter.dropLast()) == rowsBefore)
            #expect(rowsAfter.last?.contains("|revision|") == true)
            #expect(rowsAfter.last?.hasSuffix("|payloads_redacted") == true)
            #expect(
                try await strings(
                    fixture,
                    "SELECT concat_ws('|', redacted_by, os_user, database_role, retention_years, to_char(erased_before AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')) FROM audit_redactions"
                ) == ["revision|root|freigabe_admin|10|2015-12-31 23:00"])

            // The sealer's clock is the real one, as in production: the erasure's record, dated by the database's
            // clock, must not be newer than the checkpoint that signs it.
            _ = try await sealer.sealAll(now: Date(), logger: logger)
            let report = try await verify(fixture)
            #expect(report.problems == [])
            #expect(report.summary?.redactedEventCount == UInt64(due.count))
            // Held to the city's retention period: ten years kept, as configured, holds; a city that keeps
            // its log for twelve learns that this erasure kept it for only ten.
            var tenYears = AuditVerification(
                client: fixture.admin, keys: TrustedKeys(Self.signer.verifierKey), appRole: nil)
            tenYears.retentionYears = 10
            #expect(try await tenYears.run(logger: logger).problems == [])
            var twelveYears = tenYears
            twelveYears.retentionYears = 12
            #expect(
                try await twelveYears.run(logger: logger).problems == [
                    "erasure #\(redactionID) by revision: it kept the log for 10 years, the retention period is 12 "
                        + "(audit.retention_years)"
                ])
            let redactions = try #require(report.summary?.redactions)
            #expect(redactions.count == 1)
            #expect(redactions.first?.key.redactedBy == "revision")
            #expect(redactions.first?.value == UInt64(due.count))
            let lines = AuditTool.redactionLines(redactions)
            #expect(lines.last?.contains("\(due.count) gelöscht am ") == true)
            #expect(lines.last?.hasSuffix(" von revision") == true)
            // A name from an export file reaches the terminal without its escape sequences or line breaks.
            let planted = Redaction(
                redactedAt: AuditTimestamp(microsecondsSinceEpoch: 0), redactedBy: "x\u{1B}[1A\u{1B}[2K\nAlles geprüft")
            #expect(
                AuditTool.redactionLines([planted: 1]).last
                    == "  1 gelöscht am 1970-01-01T00:00:00.000000Z von x?[1A?[2K?Alles geprüft")
            #expect(ToolOutput.terminalSafe("a\tb\u{9B}c\u{202E}d\u{7F}\n") == "a\tb?c?d?\n")

            // A second run finds nothing due: the redaction event itself is never erased.
            let again = try await AuditRedaction(client: fixture.admin).run(try order(), logger: logger)
            #expect(again == AuditRedaction.Outcome(erasedCount: 0))
        }
    }

    /// Requests that wait for their requester since 2014: a draft never submitted and a question never
    /// answered (both due); beside them a request waiting for its Data Owner since 2014, a draft of this
    /// year, and a 2014 request whose question was asked in 2020 (its row's `updated_at` set back to 2014
    /// as the owner could: the log's newer event keeps it). All kept but the first two and an Open Data
    /// request asked at its parallel legal review after the DSB had approved with a comment (the approval
    /// is held in the snapshot's state too).
    struct Abandoned {
        var draft: RequestView
        var asked: RequestView
        var askedInParallel: RequestView
        var waiting: RequestView
        var recentDraft: RequestView
        var askedLate: RequestView
    }

    static let question = "Wofür genau brauchen Sie die Meldedaten von Frau Muster?"

    func abandonedHistory(_ fixture: ServiceFixture) async throws -> Abandoned {
        let legalBasis = "Art. 6 Abs. 1 lit. e DSGVO"
        let draft = try await fixture.shared("meldestatistik", legalBasis: legalBasis, submit: false, at: Self.old)
        let asked = try await fixture.decide(
            try await fixture.shared("meldestatistik", legalBasis: legalBasis, at: Self.old), by: People.marta,
            .requestChanges(question: Self.question), at: Clock.days(1, after: Self.old))
        let waiting = try await fixture.shared("meldestatistik", legalBasis: legalBasis, at: Self.old)
        let recentDraft = try await fixture.shared("meldestatistik", legalBasis: legalBasis, submit: false)
        let askedLate = try await fixture.decide(
            try await fixture.shared("meldestatistik", legalBasis: legalBasis, at: Self.old), by: People.marta,
            .requestChanges(question: "Spät gefragt"), at: Clock.date("2020-01-13T09:00:00Z"))
        try await fixture.admin.query(
            "UPDATE requests SET updated_at = \(Self.old) WHERE id = \(askedLate.id)", logger: logger)
        var check = ServiceFixture.noConcerns
        check.security = CheckAnswer(applies: true, note: "Standorte der Messstellen")
        var open = try await fixture.service.createRequest(
            NewRequest(
                kind: .openData, datasetID: "bevoelkerungsprognose",
                details: RequestDetails(
                    purpose: "Veröffentlichung im Open-Data-Portal", licence: "dl-de-zero-2.0", format: "CSV",
                    anonymisationStatement: "Aggregiert auf Stadtbezirke.", openDataCheck: check),
                submit: true),
            caller: People.anna, now: Self.old, logger: logger)
        open = try await fixture.decide(open, by: People.marta, at: Clock.days(1, after: Self.old))
        open = try await fixture.decide(open, by: People.bea, at: Clock.days(1, after: Self.old))
        open = try await fixture.decide(
            open, by: People.dora, .approve(comment: "Aggregation genügt", licence: nil, portalURL: nil),
            at: Clock.days(2, after: Self.old), branch: "privacy_review")
        let askedInParallel = try await fixture.decide(
            open, by: People.ingo, .requestChanges(question: "Welche Messstellen genau?"),
            at: Clock.days(3, after: Self.old), branch: "security_review")
        _ = try await AuditSealer(client: fixture.app, signer: Self.signer, checkpointFile: nil)
            .sealAll(now: Clock.days(2), logger: logger)
        return Abandoned(
            draft: draft, asked: asked, askedInParallel: askedInParallel, waiting: waiting, recentDraft: recentDraft,
            askedLate: askedLate)
    }

    /// Each request's state, purpose, legal basis, whether its snapshot or decisions still hold a question,
    /// and whether it is marked erased, in the order of `ids`.
    func requestTexts(_ fixture: ServiceFixture, _ ids: [UUID]) async throws -> [String] {
        var result: [String] = []
        for id in ids {
            result += try await strings(
                fixture,
                """
                SELECT concat_ws('|', state, purpose, coalesce(legal_basis, '∅'),
                    snapshot::text LIKE '%gefragt%' OR snapshot::text LIKE '%Frau Muster%'
                        OR snapshot::text LIKE '%Aggregation%' OR snapshot::text LIKE '%Messstellen%',
                    EXISTS (SELECT 1 FROM decisions d WHERE d.request_id = r.id AND d.comment IS NOT NULL),
                    redaction_id IS NOT NULL)
                FROM requests r WHERE id = \(id)
                """)
        }
        return result
    }

    @Test("an abandoned draft and an unanswered question are erased like closed requests; waiting ones stay")
    func abandonedRequestsAreErased() async throws {
        try await ServiceFixture.with { fixture in
            let history = try await abandonedHistory(fixture)
            let ids = [
                history.draft, history.asked, history.askedInParallel, history.waiting, history.recentDraft,
                history.askedLate,
            ].map(\.id)
            let before = try await requestTexts(fixture, ids)
            let purpose = "Planung der Grünflächen 2027"
            let basis = "Art. 6 Abs. 1 lit. e DSGVO"
            #expect(
                before == [
                    "draft|\(purpose)|\(basis)|f|f|f",
                    "changes_requested:owner_review|\(purpose)|\(basis)|t|t|f",
                    "changes_requested:legal_review|Veröffentlichung im Open-Data-Portal|∅|t|t|f",
                    "in_review:owner_review|\(purpose)|\(basis)|f|f|f",
                    "draft|\(purpose)|\(basis)|f|f|f",
                    "changes_requested:owner_review|\(purpose)|\(basis)|t|t|f",
                ])

            // Hostile: a date within the retention period is refused, by the command and by the database.
            #expect(throws: RedactionRefusal.self) { try order("2020-01-01") }
            await expectRefused(
                fixture, fixture.admin,
                "SELECT audit_redact(now() - interval '5 years', 'mallory', NULL, 10, ARRAY[]::bigint[], ''::bytea)",
                state: "22023")
            #expect(try await requestTexts(fixture, ids) == before)

            // Today the Governance Office is told of the three unanswered questions: the system's own events
            // are no activity of a request that waits for its requester, which still goes.
            _ = try await fixture.service.fireDueTimers(now: Date(), logger: logger)
            #expect(
                try await strings(
                    fixture, "SELECT count(*)::text FROM audit_events WHERE event = 'question_unanswered'")
                    == ["3"])

            // A dry run counts them and changes nothing.
            var dryRun = try order()
            dryRun.dryRun = true
            let counted = try await AuditRedaction(client: fixture.admin).run(dryRun, logger: logger)
            #expect(counted.requestCount == 3)
            #expect(counted.abandonedCount == 3)
            #expect(try await requestTexts(fixture, ids) == before)
            #expect(try await strings(fixture, "SELECT count(*)::text FROM audit_redactions") == ["0"])

            let outcome = try await AuditRedaction(client: fixture.admin).run(try order(), logger: logger)
            #expect(outcome.requestCount == 3)
            #expect(outcome.abandonedCount == 3)
            #expect(
                try await requestTexts(fixture, ids) == [
                    "draft|-|∅|f|f|t",
                    "changes_requested:owner_review|-|∅|f|f|t",
                    "changes_requested:legal_review|-|∅|f|f|t",
                    "in_review:owner_review|\(purpose)|\(basis)|f|f|f",
                    "draft|\(purpose)|\(basis)|f|f|f",
                    "changes_requested:owner_review|\(purpose)|\(basis)|t|t|f",
                ])
            #expect(
                try await strings(fixture, "SELECT comment FROM audit_events WHERE comment IS NOT NULL") == [
                    "Spät gefragt"
                ])

            // The request, its page and GET /requests/{id} say so, as for a closed request.
            let asked = try await fixture.service.request(
                id: history.asked.id, caller: People.anna, now: Date(), logger: logger)
            #expect(asked.textsErased?.by == "revision")
            #expect(asked.status.question == "-")
            #expect(
                try await fixture.service.request(
                    id: history.draft.id, caller: People.anna, now: Date(), logger: logger
                )
                .textsErased?.by == "revision")
            #expect(
                try await fixture.service.request(
                    id: history.waiting.id, caller: People.anna, now: Date(), logger: logger
                )
                .textsErased == nil)

            // The log and the requests still agree.
            let sealer = AuditSealer(client: fixture.app, signer: Self.signer, checkpointFile: nil)
            _ = try await sealer.sealAll(now: Date(), logger: logger)
            #expect(try await verify(fixture).problems == [])

            // The requester may answer: asked again for the purpose (and the legal basis), not a crash.
            let unanswered = await expectServiceError(.validation) {
                try await fixture.service.resubmit(
                    requestID: history.asked.id, changes: Resubmission(comment: "Für die Statistik"),
                    caller: People.anna, now: Date(), logger: logger)
            }
            #expect(unanswered?.fieldErrors["purpose"] == UserText("request.purpose_erased"))
            #expect(unanswered?.fieldErrors["legal_basis"] != nil)
            let unsubmitted = await expectServiceError(.validation) {
                try await fixture.service.submit(
                    requestID: history.draft.id, caller: People.anna, now: Date(), logger: logger)
            }
            #expect(unsubmitted?.fieldErrors["purpose"] == UserText("request.purpose_erased"))
            let resubmitted = try await fixture.service.resubmit(
                requestID: history.asked.id,
                changes: Resubmission(
                    comment: "Für die Statistik",
                    changes: RequestDetails.Patch(
                        values: RequestDetails(
                            purpose: "Bevölkerungsstatistik 2027", legalBasis: basis,
                            accessEnd: Clock.days(60, after: Date())),
                        given: [.purpose, .legalBasis, .accessEnd])),
                caller: People.anna, now: Date(), logger: logger)
            #expect(resubmitted.status.phase == .inReview)
            // Stated anew: no longer a request whose texts were erased. Its approvers see the new purpose,
            // verify compares it with the log again, and a later erasure will take it.
            let revived = try await fixture.service.request(
                id: history.asked.id, caller: People.anna, now: Date(), logger: logger)
            #expect(revived.details.purpose == "Bevölkerungsstatistik 2027")
            #expect(revived.textsErased == nil)
            let mark = try await fixture.app.query(
                "SELECT redaction_id IS NULL FROM requests WHERE id = \(history.asked.id)", logger: logger
            ).decode(Bool.self).first(where: { _ in true })
            #expect(mark == true)
            let withdrawn = try await fixture.service.withdraw(
                requestID: history.draft.id, caller: People.anna, now: Date(), logger: logger)
            #expect(withdrawn.status.phase == .closed)
            _ = try await sealer.sealAll(now: Date(), logger: logger)
            #expect(try await verify(fixture).problems == [])
        }
    }

    @Test("others' refused reads keep no texts; a request written to after its erasure is erased again")
    func laterTextsAreErasedToo() async throws {
        try await ServiceFixture.with { fixture in
            let history = try await abandonedHistory(fixture)
            let ids = [history.draft.id, history.asked.id]
            // A colleague opens the abandoned draft's old link today: refused, and no activity of the draft.
            await expectServiceError(.notFound) {
                try await fixture.service.request(
                    id: history.draft.id, caller: People.volker, now: Date(), logger: logger)
            }
            #expect(
                try await strings(
                    fixture,
                    "SELECT count(*)::text FROM audit_events WHERE event = 'read_denied' AND request_id = \(history.draft.id)"
                ) == ["1"])
            let first = try await AuditRedaction(client: fixture.admin).run(try order(), logger: logger)
            #expect(first.requestCount == 3)
            #expect(
                try await requestTexts(fixture, ids) == ["draft|-|∅|f|f|t", "changes_requested:owner_review|-|∅|f|f|t"])

            // The requester comes back to the erased draft and states a purpose anew: shown, no longer marked.
            let erasedDraft = try await fixture.service.request(
                id: history.draft.id, caller: People.anna, now: Date(), logger: logger)
            #expect(erasedDraft.textsErased != nil)
            let edited = try await fixture.service.editDraft(
                requestID: history.draft.id,
                changes: RequestDetails.Patch(values: RequestDetails(purpose: "Statistik 2027"), given: [.purpose]),
                caller: People.anna, now: Date(), logger: logger)
            #expect(edited.details.purpose == "Statistik 2027")
            let reread = try await fixture.service.request(
                id: history.draft.id, caller: People.anna, now: Date(), logger: logger)
            #expect(reread.textsErased == nil)
            // Only the purpose: the legal basis stays erased.
            #expect(try await requestTexts(fixture, [history.draft.id]) == ["draft|Statistik 2027|∅|f|f|f"])

            // In mid-2016 the Governance Office closes the abandoned question with a reason naming someone.
            let reason = "Antragstellerin Frau Muster ist ausgeschieden."
            let closed = try await fixture.service.discontinue(
                requestID: history.asked.id, reason: reason, caller: People.greta,
                now: Clock.date("2016-06-01T08:00:00Z"), logger: logger)
            #expect(closed.status.phase == .closed)
            // Its reason in the decision, in the snapshot, and in the notifications about it.
            func kept() async throws -> [String] {
                try await strings(
                    fixture,
                    """
                    SELECT concat_ws('|',
                        (SELECT count(*) FROM decisions WHERE request_id = r.id AND comment = \(reason)),
                        r.snapshot::text LIKE '%Frau Muster%', (SELECT count(*) FROM outbox WHERE request_id = r.id) > 0)
                    FROM requests r WHERE r.id = \(history.asked.id)
                    """)
            }
            #expect(try await kept() == ["1|t|t"])

            // A later run whose cut-off lies after the change erases the request again, with its copies.
            _ = try await AuditSealer(client: fixture.app, signer: Self.signer, checkpointFile: nil)
                .sealAll(now: Date(), logger: logger)
            let second = try await AuditRedaction(client: fixture.admin).run(try order("2016-09-01"), logger: logger)
            #expect(second.requestCount == 1)
            #expect(try await kept() == ["0|f|f"])
            #expect(
                try await strings(
                    fixture, "SELECT redaction_id::text FROM requests WHERE id = \(history.asked.id)")
                    == [second.redactionID.map(String.init) ?? "none"])
            // A third run with the same cut-off finds nothing more of it.
            let third = try await AuditRedaction(client: fixture.admin).run(try order("2016-09-01"), logger: logger)
            #expect(third.requestCount == 0)
            _ = try await AuditSealer(client: fixture.app, signer: Self.signer, checkpointFile: nil)
                .sealAll(now: Date(), logger: logger)
            #expect(try await verify(fixture).problems == [])
        }
    }

    @Test("a date that is malformed, in the future or within the retention period is refused before anything")
    func hostileDates() throws {
        for text in [
            "", "gestern", "2016-13-01", "2016-02-30", "2016-01-01'; DELETE FROM audit_events; --", "16-01-01",
        ] {
            #expect(throws: RedactionRefusal.self, "\(text)") { try order(text) }
            do throws(RedactionRefusal) {
                _ = try order(text)
            } catch {
                guard case .malformedDate = error else {
                    Issue.record("\(text): \(error)")
                    continue
                }
                #expect(error.description.hasPrefix("Nichts gelöscht: --before"))
            }
        }
        #expect(throws: RedactionRefusal.inFuture("2999-01-01")) { try order("2999-01-01") }
        // RFC 3339 without fractions, as an operator types it.
        func instant(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }
        let fiveYearsAgo = instant(Self.now.addingTimeInterval(-5 * 365 * 86_400))
        do throws(RedactionRefusal) {
            _ = try order(fiveYearsAgo)
            Issue.record("five years ago is within ten years")
        } catch {
            guard case .withinRetention(_, years: 10, _) = error else {
                Issue.record("\(error)")
                return
            }
            #expect(error.description.contains("Aufbewahrungsfrist von 10 Jahren"))
        }
        // Exactly at the border: one day inside is refused, one day outside is taken.
        let border = AuditFilter.berlin.date(byAdding: .year, value: -10, to: Self.now)!
        #expect(throws: RedactionRefusal.self) {
            try order(instant(border.addingTimeInterval(86_400)))
        }
        #expect(try order(instant(border.addingTimeInterval(-86_400))).retentionYears == 10)
        for actor in ["anna' OR 1=1 --", "", String(repeating: "a", count: 201), "a\nb", "a b"] {
            #expect(throws: RedactionRefusal.invalidActor(actor)) { try order(actor: actor) }
        }
        #expect(throws: RedactionRefusal.noActor) {
            try AuditRedaction.order(before: "2016-01-01", actor: nil, osUser: nil, retentionYears: 10, now: Self.now)
        }
        for years in [0, 101, -1] {
            #expect(throws: RedactionRefusal.invalidRetention(years)) {
                try AuditRedaction.order(
                    before: "1990-01-01", actor: "revision", osUser: nil, retentionYears: years, now: Self.now)
            }
        }
        // The OS account is the actor when none is given.
        #expect(
            try AuditRedaction.order(
                before: "2016-01-01", actor: nil, osUser: "jürgen", retentionYears: 10, now: Self.now
            )
            .actor == "jürgen")
    }

    @Test("audit.retention_years: default 10, 1 to 100, anything else stops the start with the key named")
    func retentionSetting() async throws {
        func read(_ value: String?) async throws -> AuditSettings {
            let environment = value.map { ["FREIGABE_AUDIT_RETENTION_YEARS": $0] } ?? [:]
            let reader = try await ConfigurationSources.reader(environment: environment)
            return try AuditSettings.read(SettingValues(reader: reader))
        }
        #expect(try await read(nil).retentionYears == 10)
        #expect(try await read("30").retentionYears == 30)
        for bad in ["0", "101", "-5", "zehn", "10.5", "1e1"] {
            await #expect(throws: ConfigurationError.self, "\(bad)") { _ = try await read(bad) }
        }
    }

    /// Only signed checkpoints are copied out: a checkpoint file without a key stayed empty while
    /// `/ready` reported `audit_checkpoint_file: written`.
    @Test("audit.checkpoint_file without audit.key_file stops the start with the key named")
    func checkpointFileNeedsKey() async throws {
        let reader = try await ConfigurationSources.reader(environment: [
            "FREIGABE_AUDIT_CHECKPOINT_FILE": "/var/lib/freigabe/checkpoints.txt"
        ])
        let error = #expect(throws: ConfigurationError.self) { try AuditSettings.read(SettingValues(reader: reader)) }
        #expect(error?.key == AuditSettings.checkpointFileKey)
        #expect(error?.description.contains("audit.key_file") == true, "\(String(describing: error))")
    }

    @Test("the narrow path: the app role cannot erase, the owner only through audit_redact and only what it allows")
    func onlyTheNarrowPath() async throws {
        try await ServiceFixture.with { fixture in
            _ = try await sealedHistory(fixture)
            // The application role may not call the function, nor write the redaction table.
            await expectRefused(
                fixture, fixture.app,
                "SELECT audit_redact('2010-01-01', 'mallory', NULL, 10, ARRAY[]::bigint[], ''::bytea)")
            await expectRefused(
                fixture, fixture.app,
                "INSERT INTO audit_redactions (erased_before, retention_years, redacted_by) VALUES ('2010-01-01', 10, 'mallory')"
            )
            // The owner, triggers enabled: no direct erasure, no erasure within the retention period.
            await expectRefused(
                fixture, fixture.admin,
                "UPDATE audit_events SET comment = NULL, client_address = NULL, details = '{}' WHERE occurred_at < '2016-01-01'"
            )
            await expectRefused(
                fixture, fixture.admin,
                "SELECT audit_redact(now() - interval '1 year', 'mallory', NULL, 10, ARRAY[]::bigint[], ''::bytea)",
                state: "22023")
            // A set of events other than exactly the due ones: nothing.
            await expectRefused(
                fixture, fixture.admin,
                "SELECT audit_redact('2016-01-01', 'mallory', NULL, 10, ARRAY[0]::bigint[], decode(repeat('00', 32), 'hex'))",
                state: "22023")
            // An erasure record of this transaction does not let the owner change a non-personal field too.
            do {
                try await Database.transaction(fixture.admin, logger: logger) { connection in
                    try await connection.query(
                        "INSERT INTO audit_redactions (erased_before, retention_years, redacted_by) VALUES ('2016-01-01', 10, 'mallory')",
                        logger: logger)
                    try await connection.query(
                        """
                        UPDATE audit_seals s SET payload_salt = NULL, payload_hash = leaf_hash,
                            redaction_id = (SELECT max(id) FROM audit_redactions)
                        FROM audit_events e WHERE e.id = s.event_row AND e.occurred_at < '2016-01-01'
                        """, logger: logger)
                    try await connection.query(
                        """
                        UPDATE audit_events SET comment = NULL, client_address = NULL, details = '{}', actor = 'mallory'
                        WHERE occurred_at < '2016-01-01'
                        """, logger: logger)
                }
                Issue.record("the owner changed an actor while erasing")
            } catch {
                #expect(Database.sqlState(of: error) == "42501", "\(String(reflecting: error))")
            }
            // Nor erase a seal of an event the erasure does not cover (a recent one).
            do {
                try await Database.transaction(fixture.admin, logger: logger) { connection in
                    try await connection.query(
                        "INSERT INTO audit_redactions (erased_before, retention_years, redacted_by) VALUES ('2016-01-01', 10, 'mallory')",
                        logger: logger)
                    try await connection.query(
                        """
                        UPDATE audit_seals s SET payload_salt = NULL, payload_hash = leaf_hash,
                            redaction_id = (SELECT max(id) FROM audit_redactions)
                        FROM audit_events e WHERE e.id = s.event_row AND e.comment = 'Neue Begründung'
                        """, logger: logger)
                }
                Issue.record("the owner erased a recent event")
            } catch {
                #expect(Database.sqlState(of: error) == "42501", "\(String(reflecting: error))")
            }
            // Erasures stay: the record cannot be changed or removed.
            _ = try await AuditRedaction(client: fixture.admin).run(try order(), logger: logger)
            await expectRefused(fixture, fixture.admin, "UPDATE audit_redactions SET redacted_by = 'mallory'")
            await expectRefused(fixture, fixture.admin, "DELETE FROM audit_redactions")
            await expectRefused(fixture, fixture.admin, "UPDATE audit_seals SET payload_salt = NULL")
            // Outside an erasure the decisions' comments stay, even for the owner.
            await expectRefused(fixture, fixture.admin, "UPDATE decisions SET comment = NULL")
            #expect(try await verify(fixture).problems == [])
        }
    }

    @Test("tampering around an erasure is found: texts written back, a restored payload, a changed field")
    func tamperingAfterErasure() async throws {
        // Texts written back into an erased row (no salt to check them against).
        try await ServiceFixture.with { fixture in
            let sealer = try await sealedHistory(fixture)
            _ = try await AuditRedaction(client: fixture.admin).run(try order(), logger: logger)
            _ = try await sealer.sealAll(now: Date(), logger: logger)
            try await fixture.admin.query("ALTER TABLE audit_events DISABLE TRIGGER USER", logger: logger)
            try await fixture.admin.query(
                "UPDATE audit_events SET comment = 'Erfundene Begründung' WHERE \(unescaped: Self.stefansOldDecision)",
                logger: logger)
            try await fixture.admin.query("ALTER TABLE audit_events ENABLE TRIGGER USER", logger: logger)
            let report = try await verify(fixture)
            // The event, and its request: the decision's comment was erased, the log's is back.
            #expect(report.problems.count == 2, "\(report.problems)")
            #expect(report.problems.first?.contains("holds text again") == true)
            #expect(report.problems.last?.contains("the decision log says approved by stefan") == true)
            // The exports show none of it: the texts of an erased event stay empty (CSV, also per row).
            for format in [AuditExportFormat.csv, .jsonl] {
                var bytes: [UInt8] = []
                _ = try await AuditExporter(query: AuditQuery(client: fixture.app)).export(
                    AuditFilter(), format: format, logger: logger
                ) { bytes += $0 }
                let text = String(decoding: bytes, as: UTF8.self)
                #expect(!text.contains("Erfundene Begründung"), "\(format)")
                #expect(text.contains("revision"), "\(format): the erasure is named")
            }
        }
        // A payload "restored" with another text and a made-up salt: its hash is not the one sealed.
        try await ServiceFixture.with { fixture in
            let sealer = try await sealedHistory(fixture)
            _ = try await AuditRedaction(client: fixture.admin).run(try order(), logger: logger)
            _ = try await sealer.sealAll(now: Date(), logger: logger)
            try await fixture.admin.query("ALTER TABLE audit_events DISABLE TRIGGER USER", logger: logger)
            try await fixture.admin.query("ALTER TABLE audit_seals DISABLE TRIGGER USER", logger: logger)
            try await fixture.admin.query(
                """
                UPDATE audit_seals s SET payload_salt = decode(repeat('ab', 16), 'hex'), payload_hash = NULL,
                    redaction_id = NULL
                FROM audit_events e WHERE e.id = s.event_row AND \(unescaped: Self.stefansOldDecision)
                """, logger: logger)
            try await fixture.admin.query(
                "UPDATE audit_events SET comment = 'Alte Begründung, anders' WHERE \(unescaped: Self.stefansOldDecision)",
                logger: logger)
            try await fixture.admin.query("ALTER TABLE audit_events ENABLE TRIGGER USER", logger: logger)
            try await fixture.admin.query("ALTER TABLE audit_seals ENABLE TRIGGER USER", logger: logger)
            let report = try await verify(fixture)
            #expect(report.problems.contains { $0.contains("leaf hash") }, "\(report.problems)")
            #expect(report.problems.contains { $0.contains("payloads were erased") }, "\(report.problems)")
            #expect(!report.holds)
        }
        // An erasure that also changed a non-personal field (triggers disabled): the leaf no longer matches.
        try await ServiceFixture.with { fixture in
            let sealer = try await sealedHistory(fixture)
            _ = try await AuditRedaction(client: fixture.admin).run(try order(), logger: logger)
            _ = try await sealer.sealAll(now: Date(), logger: logger)
            try await fixture.admin.query("ALTER TABLE audit_events DISABLE TRIGGER USER", logger: logger)
            try await fixture.admin.query(
                "UPDATE audit_events SET decision = 'rejected' WHERE \(unescaped: Self.stefansOldDecision)",
                logger: logger)
            try await fixture.admin.query("ALTER TABLE audit_events ENABLE TRIGGER USER", logger: logger)
            let report = try await verify(fixture)
            #expect(report.problems.contains { $0.contains("leaf hash") }, "\(report.problems)")
        }
        // An event changed after sealing is evidence: the erasure refuses and erases nothing.
        try await ServiceFixture.with { fixture in
            _ = try await sealedHistory(fixture)
            try await fixture.admin.query("ALTER TABLE audit_events DISABLE TRIGGER USER", logger: logger)
            try await fixture.admin.query(
                "UPDATE audit_events SET comment = 'Gefälscht' WHERE comment = 'Alte Begründung'", logger: logger)
            try await fixture.admin.query("ALTER TABLE audit_events ENABLE TRIGGER USER", logger: logger)
            await #expect(throws: RedactionRefusal.self) {
                _ = try await AuditRedaction(client: fixture.admin).run(try order(), logger: logger)
            }
            #expect(try await strings(fixture, "SELECT count(*)::text FROM audit_redactions") == ["0"])
            #expect(
                try await strings(fixture, "SELECT count(*)::text FROM audit_seals WHERE payload_salt IS NULL") == ["0"]
            )
        }
    }

    /// The database owner erases a recent event around `audit_redact`: triggers off, an `audit_redactions`
    /// row of their own (cut-off ten years back, so its CHECK holds), the event's texts blanked and its
    /// seal marked with the payload hash kept (the leaf still matches), a `payloads_redacted` event with
    /// the right count appended, which the sealer then seals and signs. Found in the database and in an
    /// export checked offline, whatever the forged event states.
    @Test(
        "an erasure inside the retention period made around audit_redact is found, in the database and offline",
        arguments: [
            // The record as the review found it accepted: only the erasure and the count.
            (
                "'{}'::jsonb", "no cut-off (erased_before)",
                "states no cut-off (erased_before) or no retention period"
            ),
            // A record that agrees with its row in everything: the erased event is newer than the cut-off.
            (
                "jsonb_build_object('erased_before', r.erased_before, 'retention_years', 10)",
                "happened at or after its cut-off", "happened at or after its erasure's cut-off"
            ),
            // A cut-off at the erasure itself.
            (
                "jsonb_build_object('erased_before', r.redacted_at, 'retention_years', 10)",
                "within the retention period of 10 years", "within the retention period of 10 years"
            ),
        ])
    func erasureWithinRetention(_ details: String, _ found: String, _ foundOffline: String) async throws {
        try await AuditExportTests.Folder.with { folder in
            try await ServiceFixture.with { fixture in
                let sealer = try await sealedHistory(fixture)
                let target = "comment = 'Neue Begründung'"
                let payloadHash = try await payloadHash(fixture, of: target)
                let position = try await strings(
                    fixture,
                    "SELECT s.sequence::text FROM audit_seals s JOIN audit_events e ON e.id = s.event_row WHERE \(unescaped: target)"
                )
                for table in ["audit_events", "audit_seals"] {
                    try await fixture.admin.query(
                        "ALTER TABLE \(unescaped: table) DISABLE TRIGGER USER", logger: logger)
                }
                try await fixture.admin.query(
                    """
                    WITH r AS (
                        INSERT INTO audit_redactions (erased_before, retention_years, redacted_by)
                        VALUES (now() - interval '10 years', 10, 'mallory') RETURNING id, erased_before, redacted_at),
                    s AS (
                        UPDATE audit_seals SET payload_salt = NULL, payload_hash = \(ByteBuffer(bytes: payloadHash.bytes)),
                            redaction_id = (SELECT id FROM r)
                        WHERE event_row = (SELECT id FROM audit_events WHERE \(unescaped: target)) RETURNING 1),
                    e AS (
                        UPDATE audit_events SET comment = NULL, client_address = NULL, details = '{}'
                        WHERE \(unescaped: target) RETURNING 1)
                    INSERT INTO audit_events (occurred_at, actor, event, details)
                    SELECT now(), 'mallory', 'payloads_redacted',
                        jsonb_build_object('redaction', r.id, 'event_count', (SELECT count(*) FROM s))
                            || \(unescaped: details)
                    FROM r
                    """, logger: logger)
                for table in ["audit_events", "audit_seals"] {
                    try await fixture.admin.query("ALTER TABLE \(unescaped: table) ENABLE TRIGGER USER", logger: logger)
                }
                #expect(try await strings(fixture, "SELECT comment FROM audit_events WHERE \(unescaped: target)") == [])
                _ = try await sealer.sealAll(now: Date().addingTimeInterval(60), logger: logger)

                let report = try await verify(fixture)
                #expect(
                    report.problems.contains { $0.contains("by mallory") && $0.contains(found) }, "\(report.problems)")
                #expect(!report.holds)
                if found.hasSuffix("cut-off") {
                    // The erased event is named by its place in the log.
                    #expect(
                        report.problems.contains { $0.contains("(the first at position \(position.first ?? "?"))") },
                        "\(report.problems)")
                }

                // The export of the whole log, checked offline against the signed checkpoint.
                let checked = try await checkCompleteExportOffline(fixture, in: folder)
                #expect(!checked.succeeded)
                #expect(checked.standardError.first?.contains(foundOffline) == true, "\(checked)")
            }
        }
    }

    /// The database owner dates an erasure twenty years ahead with a cut-off ten years ahead: its CHECK
    /// holds, its retention holds, and last month's event lies before the cut-off, so the triggers of
    /// `audit_events` and `audit_seals` let its transaction blank that event. Migration 18 stamps the row
    /// with the database's `now()`, so with its trigger on the row is refused; with every trigger off the
    /// erasure goes through and is sealed, and verify finds it by the clocks it cannot forge: the
    /// database's own now and, online and offline, the sealer's signed time.
    @Test(
        "an erasure dated in the future is refused by the database, and found online and offline when forced",
        arguments: [false, true])
    func erasureDatedInTheFuture(_ triggersOff: Bool) async throws {
        try await AuditExportTests.Folder.with { folder in
            try await ServiceFixture.with { fixture in
                let sealer = try await sealedHistory(fixture)
                let target = "comment = 'Neue Begründung'"
                let payloadHash = try await payloadHash(fixture, of: target)
                let tables = ["audit_events", "audit_seals"] + (triggersOff ? ["audit_redactions"] : [])
                for table in tables {
                    try await fixture.admin.query(
                        "ALTER TABLE \(unescaped: table) DISABLE TRIGGER USER", logger: logger)
                }
                let forgery: PostgresQuery = """
                    WITH r AS (
                        INSERT INTO audit_redactions (erased_before, retention_years, redacted_by, redacted_at)
                        VALUES (now() + interval '10 years', 10, 'mallory', now() + interval '20 years')
                        RETURNING id, erased_before, redacted_at),
                    s AS (
                        UPDATE audit_seals SET payload_salt = NULL, payload_hash = \(ByteBuffer(bytes: payloadHash.bytes)),
                            redaction_id = (SELECT id FROM r)
                        WHERE event_row = (SELECT id FROM audit_events WHERE \(unescaped: target)) RETURNING 1),
                    e AS (
                        UPDATE audit_events SET comment = NULL, client_address = NULL, details = '{}'
                        WHERE \(unescaped: target) RETURNING 1)
                    INSERT INTO audit_events (occurred_at, actor, event, details)
                    SELECT r.redacted_at, 'mallory', 'payloads_redacted',
                        jsonb_build_object('redaction', r.id, 'event_count', (SELECT count(*) FROM s),
                            'erased_before', r.erased_before, 'retention_years', 10)
                    FROM r
                    """
                if triggersOff {
                    try await fixture.admin.query(forgery, logger: logger)
                } else {
                    // The row's time is the database's: the cut-off ten years ahead breaks the CHECK.
                    await expectRefused(fixture, fixture.admin, forgery, state: "23514")
                }
                for table in tables {
                    try await fixture.admin.query("ALTER TABLE \(unescaped: table) ENABLE TRIGGER USER", logger: logger)
                }
                guard triggersOff else {
                    #expect(try await strings(fixture, "SELECT count(*)::text FROM audit_redactions") == ["0"])
                    #expect(try await verify(fixture).problems == [])
                    return
                }
                #expect(try await strings(fixture, "SELECT comment FROM audit_events WHERE \(unescaped: target)") == [])
                _ = try await sealer.sealAll(now: Date(), logger: logger)

                let report = try await verify(fixture)
                #expect(!report.holds)
                #expect(
                    report.problems.contains {
                        $0.hasPrefix("erasure #") && $0.contains("by mallory")
                            && $0.contains("more than a day after the database's clock")
                    }, "\(report.problems)")
                #expect(
                    report.problems.contains {
                        $0.contains("by mallory") && $0.contains("the first to cover its payloads_redacted event")
                    }, "\(report.problems)")

                // The export of the whole log, checked offline against the signed checkpoint.
                let checked = try await checkCompleteExportOffline(fixture, in: folder)
                #expect(!checked.succeeded)
                #expect(checked.standardError.first?.contains("the erasure's date was forged") == true, "\(checked)")
            }
        }
    }

    /// In the seconds between `audit redact` and the next seal the erasure's `payloads_redacted` event
    /// lies beyond the newest checkpoint: a complete export, JSON Lines or CSV, would show the markers
    /// without their record and could never verify. Refused (the command line, the API's and the page's
    /// download, 409 with the catalogue's text) until the next seal; a filtered export, which needs no
    /// record, is not.
    @Test("a complete export between an erasure and the next seal is refused, and works once it is sealed")
    func exportBeforeTheErasureIsSealed() async throws {
        try await ServiceFixture.with { fixture in
            let sealer = try await sealedHistory(fixture)
            _ = try await AuditRedaction(client: fixture.admin).run(try order(), logger: logger)
            let exporter = AuditExporter(query: AuditQuery(client: fixture.app))
            await #expect(throws: AuditExportError.erasureNotSealed) {
                _ = try await exporter.export(AuditFilter(), format: .jsonl, logger: logger) { _ in }
            }
            do {
                _ = try await AuditExportDownload(client: fixture.app).response(
                    AuditFilter(), options: .init(format: .jsonl, csv: CSVOptions()),
                    slot: try AuditExportDownload.slot(),
                    logger: logger)
                Issue.record("the download started")
            } catch let problem as APIProblem {
                #expect(problem.status == .conflict)
                #expect(problem.detail == UserText("web.audit_export_erasure_unsealed"))
            }
            await #expect(throws: AuditExportError.erasureNotSealed) {
                _ = try await exporter.export(AuditFilter(), format: .csv, logger: logger) { _ in }
            }
            // Everything since 2000, but filtered: each event proves itself, no record needed.
            let filtered = try await exporter.export(
                try AuditFilter.parse(from: "2000-01-01"), format: .csv, logger: logger
            ) { _ in }
            #expect(filtered.eventCount > 0)

            let size = try await sealer.sealAll(now: Date(), logger: logger)
            var bytes: [UInt8] = []
            let complete = try await exporter.export(AuditFilter(), format: .jsonl, logger: logger) { bytes += $0 }
            #expect(complete.treeSize == size)
            let note = try await fixture.admin.query(
                "SELECT signed_note FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1", logger: logger
            ).decode(String.self).first(where: { _ in true })
            let verified = ExportVerifier(key: Self.signer.verifierKey).verify(
                lines: ExportLines.split(bytes), checkpoints: [CheckpointRecord(signedNote: try #require(note))])
            #expect((try? verified.get())?.redactedEventCount ?? 0 > 0, "\(verified)")
        }
    }

    /// The erasure's row and its event must agree: a row whose event names another uid or time is not that
    /// erasure's record.
    @Test("an erasure whose payloads_redacted event names another time or uid is found")
    func erasureEventDisagreesWithRow() async throws {
        try await ServiceFixture.with { fixture in
            let sealer = try await sealedHistory(fixture)
            _ = try await AuditRedaction(client: fixture.admin).run(try order(), logger: logger)
            _ = try await sealer.sealAll(now: Date(), logger: logger)
            #expect(try await verify(fixture).problems == [])
            // The honest event is the first one naming the erasure; a forged one before it would need an
            // older row id, so the forger rewrites the honest one (triggers off).
            try await fixture.admin.query("ALTER TABLE audit_events DISABLE TRIGGER USER", logger: logger)
            try await fixture.admin.query(
                """
                UPDATE audit_events SET details = jsonb_set(details, '{retention_years}', '2')
                WHERE event = 'payloads_redacted'
                """, logger: logger)
            try await fixture.admin.query("ALTER TABLE audit_events ENABLE TRIGGER USER", logger: logger)
            let report = try await verify(fixture)
            #expect(
                report.problems.contains {
                    $0.contains("with a retention of 10 years, but its") && $0.contains("2 years")
                },
                "\(report.problems)")
        }
    }

    @Test("freigabe audit redact as an operator runs it; verify and an offline check of the export still hold")
    func commandLine() async throws {
        try await AuditExportTests.Folder.with { folder in
            try await TestDatabase.with { database in
                var settings = try StoreTestSupport.environment()
                settings["FREIGABE_DB_NAME"] = database.name
                let environment = settings
                try await database.withClients { app, admin in
                    for (actor, year) in [("anna", "2012"), ("otto", "2013"), ("dora", "2025")] {
                        try await admin.query(
                            """
                            INSERT INTO audit_events (occurred_at, actor, event, comment, client_address, details)
                            VALUES (\(year + "-05-04T10:00:00Z")::timestamptz, \(actor), 'login_failed', 'Text von ' || \(actor),
                                    '192.0.2.7', '{"via": "web"}')
                            """, logger: logger)
                    }
                    let sealer = AuditSealer(client: app, signer: Self.signer, checkpointFile: nil)
                    _ = try await sealer.sealAll(now: Date(), logger: logger)
                    let audit = AuditSettings()
                    // Copies outside the log: two mails of no request from 2012, an answer stored for an
                    // Idempotency-Key in 2012 and one from 2025.
                    try await admin.query(
                        """
                        INSERT INTO outbox (kind, topic, payload, created_at, available_at, sent_at) VALUES
                            ('mail', 'rejected', '{"text": "Begründung von 2012"}', '2012-05-04T10:00:00Z',
                             '2012-05-04T10:00:00Z', '2012-05-04T10:01:00Z'),
                            ('mail', 'rejected', '{"text": "wartet"}', '2012-05-04T10:00:00Z',
                             '2012-05-04T10:00:00Z', NULL)
                        """, logger: logger)
                    try await admin.query(
                        """
                        INSERT INTO idempotency_keys (actor, key, operation, fingerprint, status, response, created_at)
                        VALUES ('anna', 'k1', 'create', '\\x00', 201, '{"purpose": "alt"}', '2012-05-04T10:00:00Z'),
                               ('anna', 'k2', 'create', '\\x00', 201, '{"purpose": "neu"}', '2025-05-04T10:00:00Z')
                        """, logger: logger)
                    func copies() async throws -> [Int] {
                        let rows = try await admin.query(
                            "SELECT (SELECT count(*) FROM outbox), (SELECT count(*) FROM idempotency_keys)",
                            logger: logger)
                        for try await (outbox, keys) in rows.decode((Int, Int).self) { return [outbox, keys] }
                        return []
                    }

                    // Hostile input changes nothing and fails.
                    for before in ["2099-01-01", "2020-01-01", "morgen", "2014-01-01' OR '1'='1"] {
                        let refused = await AuditTool.redact(
                            before: before, actor: "revision", settings: audit, environment: environment)
                        #expect(!refused.succeeded, "\(before)")
                        #expect(refused.standardError.first?.hasPrefix("Nichts gelöscht") == true, "\(refused)")
                    }
                    let hostileActor = await AuditTool.redact(
                        before: "2014-01-01", actor: "x'; DROP TABLE audit_events; --", settings: audit,
                        environment: environment)
                    #expect(!hostileActor.succeeded)
                    var withoutOwner = environment
                    withoutOwner["FREIGABE_DB_ADMIN_USER"] = nil
                    let noOwner = await AuditTool.redact(
                        before: "2014-01-01", actor: "revision", settings: audit, environment: withoutOwner)
                    #expect(!noOwner.succeeded)
                    #expect(noOwner.standardError.first?.contains("Eigentümerrolle") == true)
                    let untouched = try await admin.query(
                        "SELECT count(*) FROM audit_seals WHERE payload_salt IS NOT NULL", logger: logger
                    ).decode(Int.self).first(where: { _ in true })
                    #expect(untouched == 3)
                    // Erasing needs no signing key: a key file this account cannot read stops nothing.
                    let unreadableKey = try await ConfigurationSources.reader(
                        overrides: ["audit.key_file": "/nonexistent/audit.key"], environment: [:])
                    let checked = await AuditTool.redact(
                        before: "2014-01-01", actor: "revision", dryRun: true, reader: unreadableKey,
                        environment: environment)
                    #expect(checked.succeeded, "\(checked)")

                    // A dry run counts what is due and erases nothing.
                    func counts() async throws -> [Int] {
                        let rows = try await admin.query(
                            """
                            SELECT (SELECT count(*) FROM audit_events), (SELECT count(*) FROM audit_redactions),
                                   (SELECT count(*) FROM audit_seals WHERE redaction_id IS NOT NULL)
                            """, logger: logger)
                        for try await (events, redactions, redacted) in rows.decode((Int, Int, Int).self) {
                            return [events, redactions, redacted]
                        }
                        return []
                    }
                    let before = try await counts()
                    let tried = await AuditTool.redact(
                        before: "2014-01-01", actor: "revision", dryRun: true, settings: audit,
                        environment: environment)
                    #expect(tried.succeeded, "\(tried)")
                    #expect(
                        tried.standardOutput == [
                            "Probelauf: Inhalt von 2 Ereignissen und Texte von 0 abgeschlossenen und 0 liegen gebliebenen "
                                + "Anträgen vor 2013-12-31T23:00:00.000000Z würden gelöscht (alle geprüft: unverändert seit "
                                + "dem Versiegeln); nichts gelöscht. (Dry run: 2 events and 0 requests (0 closed, "
                                + "0 abandoned) would be erased; nothing erased.)",
                            "Außerdem würden gelöscht: 2 Benachrichtigungen, 1 gespeicherte API-Antworten und "
                                + "0 Entscheidungslinks. (Also to be erased: 2 notifications, 1 stored answers, "
                                + "0 decision links.)",
                        ])
                    #expect(try await copies() == [2, 2])
                    #expect(try await counts() == before)
                    let stillThere = try await admin.query(
                        "SELECT count(*) FROM audit_seals WHERE payload_salt IS NOT NULL", logger: logger
                    ).decode(Int.self).first(where: { _ in true })
                    #expect(stillThere == 3)

                    let erased = await AuditTool.redact(
                        before: "2014-01-01", actor: "revision", settings: audit, environment: environment)
                    #expect(erased.succeeded, "\(erased)")
                    #expect(
                        erased.standardOutput.first?.hasPrefix(
                            "Inhalt von 2 Ereignissen und Texte von 0 abgeschlossenen")
                            == true, "\(erased)")
                    #expect(erased.standardOutput.contains { $0.hasPrefix("Außerdem gelöscht: 2 Benachrichtigungen") })
                    // The newer answer stays.
                    let left = try await copies()
                    #expect(left == [0, 1], "\(left)")
                    _ = try await sealer.sealAll(now: Date(), logger: logger)

                    let verified = await AuditTool.verify(
                        publicKeyFile: folder.path("audit.pub"), environment: environment)
                    #expect(verified.succeeded, "\(verified)")
                    #expect(verified.standardOutput.contains { $0.hasPrefix("Davon mit gelöschtem Inhalt") })
                    #expect(
                        verified.standardOutput.contains {
                            $0.contains("2 gelöscht am ") && $0.hasSuffix("von revision")
                        })

                    // The export shows the erasure and still verifies offline, complete and filtered.
                    let checkpoint = try await admin.query(
                        "SELECT signed_note FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1", logger: logger
                    ).decode(String.self).first(where: { _ in true })
                    try (try #require(checkpoint) + "\n").write(
                        toFile: folder.path("checkpoints.txt"), atomically: true, encoding: .utf8)
                    for (file, person) in [("all.jsonl", nil), ("anna.jsonl", "anna")] as [(String, String?)] {
                        let exported = await AuditTool.export(
                            .init(format: .jsonl, person: person, output: folder.path(file)), environment: environment)
                        #expect(exported.succeeded, "\(exported)")
                        let text = try String(contentsOfFile: folder.path(file), encoding: .utf8)
                        #expect(text.contains("\"redacted\":{\"redactedAt\":"), "\(file)")
                        #expect(!text.contains("Text von anna"), "\(file)")
                        let checked = AuditTool.verifyExport(
                            exportFile: folder.path(file), checkpointFile: folder.path("checkpoints.txt"),
                            publicKeyFile: folder.path("audit.pub"))
                        #expect(checked.succeeded, "\(file): \(checked)")
                        #expect(checked.standardOutput.contains { $0.hasSuffix("von revision") }, "\(checked)")
                    }
                    let csv = await AuditTool.export(
                        .init(format: .csv, output: folder.path("all.csv")), environment: environment)
                    #expect(csv.succeeded)
                    let table = try String(contentsOfFile: folder.path("all.csv"), encoding: .utf8)
                    #expect(table.hasPrefix(CSVExportLayout.columns.joined(separator: ",")))
                    #expect(table.contains(",revision\r\n"))
                    #expect(table.contains("Text von dora"))
                    #expect(!table.contains("Text von otto"))
                    // Offline, the city's retention period is the reader's to give: the complete export, JSON
                    // Lines or CSV, names the erasure's cut-off and period; an erasure that kept less fails.
                    for file in ["all.jsonl", "all.csv"] {
                        let held = AuditTool.verifyExport(
                            exportFile: folder.path(file), checkpointFile: folder.path("checkpoints.txt"),
                            publicKeyFile: folder.path("audit.pub"), retentionYears: 10)
                        #expect(held.succeeded, "\(file): \(held)")
                        #expect(
                            held.standardOutput.contains {
                                $0.hasPrefix("  Löschung in Ereignis ") && $0.hasSuffix("Aufbewahrungsfrist 10 Jahre")
                            }, "\(file): \(held)")
                        let longer = AuditTool.verifyExport(
                            exportFile: folder.path(file), checkpointFile: folder.path("checkpoints.txt"),
                            publicKeyFile: folder.path("audit.pub"), retentionYears: 11)
                        #expect(!longer.succeeded)
                        #expect(
                            longer.standardError.first?.contains(
                                "hielt das Protokoll nur 10 Jahre; die Aufbewahrungsfrist ist 11")
                                == true, "\(file): \(longer)")
                    }
                }
            }
        }
    }

    @Test("the auditor page shows an erased event as erased, with when and by whom, and none of its text")
    func pageShowsErasure() async throws {
        try await WebFixture.with { fixture, client in
            let admin = fixture.store.admin
            try await admin.query(
                """
                INSERT INTO audit_events (occurred_at, actor, event, comment, client_address)
                VALUES ('2012-05-04T10:00:00Z', 'mallory', 'login_failed', 'Alter Text', '192.0.2.7'),
                       (now(), 'anna', 'login_failed', 'Neuer Text', '192.0.2.8')
                """, logger: logger)
            let sealer = AuditSealer(client: fixture.store.app, signer: nil, checkpointFile: nil)
            _ = try await sealer.sealAll(now: Date(), logger: logger)
            _ = try await AuditRedaction(client: admin).run(try order(), logger: logger)
            _ = try await sealer.sealAll(now: Date(), logger: logger)
            let alex = Browser(client)
            try await alex.login("alex")
            let page = try await alex.get("/pruefung")
            #expect(page.status == 200)
            #expect(page.html.contains("Inhalt gelöscht am "))
            #expect(page.html.contains(" von revision (Aufbewahrungsfrist abgelaufen)"))
            #expect(page.html.contains("Personenbezogene Inhalte gelöscht"))
            #expect(!page.html.contains("Alter Text"))
            #expect(page.html.contains("Neuer Text"))
            let filtered = try await alex.get("/pruefung?type=payloads_redacted")
            #expect(filtered.html.components(separatedBy: "<th scope=\"row\">").count == 2)
        }
    }

    @Test("after the erasure the requester's answer form starts with an empty purpose and says why")
    func answerFormAfterErasure() async throws {
        try await WebFixture.with { fixture, client in
            let history = try await abandonedHistory(fixture.store)
            _ = try await AuditRedaction(client: fixture.store.admin).run(try order(), logger: logger)
            let anna = Browser(client)
            try await anna.login("anna")
            let path = "/antraege/\(history.asked.id.uuidString)/ueberarbeiten"
            let erased = "Der Zweck wurde nach Ablauf der Aufbewahrungsfrist gelöscht."
            let form = try await anna.get(path)
            #expect(form.status == 200)
            #expect(form.html.contains(erased))
            let emptyPurpose = try Regex(#"<textarea id="[^"]*" name="purpose"[^>]*>(</textarea>)"#)
            #expect(form.html.contains(emptyPurpose), "the erasure's dash is not offered to send on")
            // Sent as shown, without a purpose: refused at the purpose, nothing changed.
            let before = try await fixture.allCounts()
            let sent = try await anna.post(
                path,
                [("version", try #require(form.hidden("version"))), ("purpose", ""), ("comment", "Antwort")],
                csrf: form.hidden("_csrf"))
            #expect(sent.status == 422)
            #expect(sent.html.contains(#"id="f-purpose-error""#))
            #expect(try await fixture.allCounts() == before)
        }
    }
}
