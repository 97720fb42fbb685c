import Foundation
import Logging
import PostgresNIO
import Testing
import WorkflowEngine

@testable import FreigabeServer

/// The "Bad input" list of issue 4, as far as it reaches the service: a clear error, no row changed,
/// and an audit event only for the security-relevant ones.
@Suite("Bad input")
struct BadInputTests {
    let logger = StoreTestSupport.logger

    /// Runs `body`, expects `code`, and checks that no table changed (but `audit_events` by `auditRows`).
    func expectNothingChanged(
        _ fixture: ServiceFixture, _ code: ServiceError.Code, auditRows: Int = 0,
        sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> some Any
    ) async throws -> ServiceError? {
        let before = try await fixture.counts()
        let error = await expectServiceError(code, sourceLocation: sourceLocation, body)
        var after = try await fixture.counts()
        #expect(
            after["audit_events"] == before["audit_events"]! + auditRows, "audit rows", sourceLocation: sourceLocation)
        after["audit_events"] = before["audit_events"]
        #expect(after == before, sourceLocation: sourceLocation)
        return error
    }

    func newRequest(
        _ dataset: String = "baumkataster", kind: ReleaseKind = .sharedData, purpose: String = "Planung",
        recipient: RecipientInput? = RecipientInput(name: "Amt 61", type: .internal), legalBasis: String? = nil,
        accessStart: Date? = Clock.start, accessEnd: Date? = Clock.days(30), anonymisation: String? = nil,
        check: OpenDataCheck? = nil, submit: Bool = true
    ) -> NewRequest {
        NewRequest(
            kind: kind, datasetID: dataset,
            details: RequestDetails(
                purpose: purpose, recipient: recipient, legalBasis: legalBasis, accessStart: accessStart,
                accessEnd: accessEnd, anonymisationStatement: anonymisation, openDataCheck: check),
            submit: submit)
    }

    func create(_ fixture: ServiceFixture, _ input: NewRequest) async throws(ServiceError) -> RequestView {
        try await fixture.service.createRequest(input, caller: People.anna, now: Clock.start, logger: logger)
    }

    @Test("unknown dataset, missing purpose, period end before start or in the past")
    func requestFields() async throws {
        try await ServiceFixture.with { fixture in
            var error = try await expectNothingChanged(fixture, .validation) {
                try await create(fixture, newRequest("gibt-es-nicht"))
            }
            #expect(error?.fieldErrors["dataset_id"]?.german == "Diesen Datensatz gibt es im Katalog nicht.")
            error = try await expectNothingChanged(fixture, .validation) {
                try await create(fixture, newRequest("'; DROP TABLE datasets; --"))
            }
            #expect(error?.fieldErrors.keys.sorted() == ["dataset_id"])
            error = try await expectNothingChanged(fixture, .validation) {
                try await create(fixture, newRequest(purpose: "  \n "))
            }
            #expect(error?.fieldErrors["purpose"] == RequestValidation.purposeMissing)
            error = try await expectNothingChanged(fixture, .validation) {
                try await create(fixture, newRequest(accessStart: Clock.days(20), accessEnd: Clock.days(10)))
            }
            #expect(error?.fieldErrors["access_end"]?.german == "Das Nutzungsende muss nach dem Nutzungsbeginn liegen.")
            // Less than a microsecond after the start is the start itself in the table (a CHECK there).
            let start = try #require(APIDates.instant("2030-01-01T00:00:00Z"))
            let sameInstant = try #require(APIDates.instant("2030-01-01T00:00:00.0000004Z"))
            #expect(sameInstant > start)
            error = try await expectNothingChanged(fixture, .validation) {
                try await create(fixture, newRequest(accessStart: start, accessEnd: sameInstant))
            }
            #expect(error?.fieldErrors.keys.sorted() == ["access_end"])
            error = try await expectNothingChanged(fixture, .validation) {
                try await create(fixture, newRequest(accessStart: nil, accessEnd: Clock.days(-1)))
            }
            // The engine's rule, with the engine's words (one place says it).
            #expect(
                error?.fieldErrors["access_end"]?.german
                    == StoreTestSupport.workflows.current(for: .sharedData)?.definition
                    .missingRequirements(
                        facts: RequestFacts(
                            kind: .sharedData, classification: .public, personalData: .none, protectionNeed: .normal),
                        accessEnd: Clock.days(-1), at: Clock.start
                    ).first { $0.problem == .accessEndNotAfterSubmission }?.message.de)
            #expect(error?.fieldErrors["access_end"]?.german.isEmpty == false)
            // All problems at once.
            error = try await expectNothingChanged(fixture, .validation) {
                try await create(fixture, newRequest("nope", purpose: "", recipient: nil, accessEnd: nil))
            }
            #expect(error?.fieldErrors.keys.sorted() == ["dataset_id", "purpose"])
            error = try await expectNothingChanged(fixture, .validation) {
                try await create(fixture, newRequest(recipient: nil, accessEnd: nil))
            }
            #expect(error?.fieldErrors.keys.sorted() == ["access_end", "recipient"])
        }
    }

    @Test("legal basis missing for personal data; Open Data of personal data without anonymisation statement")
    func personalData() async throws {
        try await ServiceFixture.with { fixture in
            var error = try await expectNothingChanged(fixture, .validation) {
                try await create(fixture, newRequest("meldestatistik"))
            }
            #expect(
                error?.fieldErrors["legal_basis"]?.german
                    == "Für personenbezogene oder pseudonymisierte Daten ist die Rechtsgrundlage anzugeben.")
            error = try await expectNothingChanged(fixture, .validation) {
                try await create(
                    fixture,
                    newRequest(
                        "bevoelkerungsprognose", kind: .openData, recipient: nil, accessStart: nil, accessEnd: nil,
                        check: ServiceFixture.noConcerns))
            }
            #expect(error?.fieldErrors.keys.sorted() == ["anonymisation_statement"])
            // Open Data with a recipient, a period, or without the release check.
            error = try await expectNothingChanged(fixture, .validation) {
                try await create(fixture, newRequest(kind: .openData))
            }
            #expect(error?.fieldErrors.keys.sorted() == ["access_end", "access_start", "open_data_check", "recipient"])
            // A "yes" in the release check needs a reason.
            var check = ServiceFixture.noConcerns
            check.thirdPartyRights = CheckAnswer(applies: true, note: nil)
            error = try await expectNothingChanged(fixture, .validation) {
                try await create(
                    fixture, newRequest(kind: .openData, recipient: nil, accessStart: nil, accessEnd: nil, check: check)
                )
            }
            #expect(error?.fieldErrors.keys.sorted() == ["open_data_check.third_party_rights.note"])
            // A draft may still lack them; the submission checks again.
            let draft = try await create(fixture, newRequest("meldestatistik", submit: false))
            error = try await expectNothingChanged(fixture, .validation) {
                try await fixture.service.submit(
                    requestID: draft.id, caller: People.anna, now: Clock.days(1), logger: logger)
            }
            #expect(error?.fieldErrors.keys.sorted() == ["legal_basis"])
        }
    }

    @Test("1 MB comment, NUL and control characters, too long names: refused, nothing written")
    func textRules() async throws {
        try await ServiceFixture.with { fixture in
            let request = try await fixture.shared("baumkataster")
            let huge = String(repeating: "x", count: 1_000_000)
            var error = try await expectNothingChanged(fixture, .validation) {
                try await fixture.decide(request, by: People.otto, .reject(reason: huge), at: Clock.days(1))
            }
            #expect(error?.fieldErrors["reason"]?.german == "Der Text ist zu lang (höchstens 4000 Zeichen).")
            error = try await expectNothingChanged(fixture, .validation) {
                try await create(fixture, newRequest(purpose: "Zweck\u{0}mit NUL"))
            }
            #expect(error?.fieldErrors["purpose"]?.german == "Der Text enthält unzulässige Steuerzeichen.")
            error = try await expectNothingChanged(fixture, .validation) {
                try await create(fixture, newRequest(purpose: "Zweck\u{1b}[31m"))
            }
            #expect(error?.fieldErrors["purpose"] != nil)
            error = try await expectNothingChanged(fixture, .validation) {
                try await create(
                    fixture,
                    newRequest(recipient: RecipientInput(name: String(repeating: "A", count: 201), type: .internal)))
            }
            #expect(error?.fieldErrors["recipient.name"] != nil)
            error = try await expectNothingChanged(fixture, .validation) {
                try await create(fixture, newRequest(recipient: RecipientInput(name: "Zeile\nZwei", type: .internal)))
            }
            #expect(
                error?.fieldErrors["recipient.name"]?.german == "Der Text enthält Zeilenumbrüche oder Steuerzeichen.")
            // "Trojan Source" text: shown reversed from where the override starts, stored as typed.
            for override in ["\u{202E}", "\u{202A}", "\u{202D}", "\u{2067}", "\u{2066}", "\u{2069}"] {
                error = try await expectNothingChanged(fixture, .validation) {
                    try await create(fixture, newRequest(purpose: "Zweck \(override)gitlüg nie"))
                }
                #expect(error?.fieldErrors["purpose"]?.german.contains("Schreibrichtung") == true)
                error = try await expectNothingChanged(fixture, .validation) {
                    try await fixture.decide(
                        request, by: People.otto, .reject(reason: "Nein\(override)aj"), at: Clock.days(1))
                }
                #expect(error?.fieldErrors["reason"] != nil)
            }
            // Right-to-left names themselves are fine.
            _ = try await create(
                fixture, newRequest(recipient: RecipientInput(name: "جامعة القاهرة \u{200F}", type: .external)))
            _ = try await expectNothingChanged(fixture, .validation) {
                try await fixture.decide(request, by: People.otto, .requestChanges(question: "   "), at: Clock.days(1))
            }
            _ = try await expectNothingChanged(fixture, .validation) {
                try await fixture.service.decide(
                    requestID: request.id, decision: approve, caller: People.otto, now: Clock.days(1),
                    idempotencyKey: "bad key with spaces", logger: logger)
            }
            // Line breaks and tabs are fine in long texts.
            let fine = try await create(fixture, newRequest(purpose: "  Erste Zeile\n\tzweite Zeile\r\n  "))
            #expect(fine.purpose == "Erste Zeile\n\tzweite Zeile")
        }
    }

    @Test("SQL meta characters and HTML in every text field are stored verbatim")
    func hostileTextStoredVerbatim() async throws {
        try await ServiceFixture.with { fixture in
            let hostile = "Robert'); DROP TABLE requests;-- <script>alert(\"x\")</script> & %_ \\ $1"
            var check = ServiceFixture.noConcerns
            check.security = CheckAnswer(applies: true, note: hostile)
            let shared = try await fixture.service.createRequest(
                NewRequest(
                    kind: .sharedData, datasetID: "meldestatistik",
                    details: RequestDetails(
                        purpose: hostile, recipient: RecipientInput(name: String(hostile.prefix(60)), type: .external),
                        legalBasis: hostile, accessEnd: Clock.days(30), format: String(hostile.prefix(60))),
                    submit: true),
                caller: People.anna, now: Clock.start, logger: logger)
            let reread = try await fixture.service.request(
                id: shared.id, caller: People.anna, now: Clock.start, logger: logger)
            #expect(reread.purpose == hostile)
            #expect(reread.legalBasis == hostile)
            #expect(reread.recipient?.name == String(hostile.prefix(60)))
            #expect(reread.format == String(hostile.prefix(60)))
            let asked = try await fixture.decide(
                reread, by: People.marta, .requestChanges(question: hostile), at: Clock.days(1))
            #expect(asked.status.question == hostile)
            let open = try await fixture.service.createRequest(
                NewRequest(
                    kind: .openData, datasetID: "bevoelkerungsprognose",
                    details: RequestDetails(purpose: hostile, anonymisationStatement: hostile, openDataCheck: check),
                    submit: true),
                caller: People.anna, now: Clock.start, logger: logger)
            #expect(open.anonymisationStatement == hostile)
            #expect(open.openDataCheck?.security.note == hostile)
            let rows = try await fixture.admin.query(
                "SELECT count(*) FROM requests WHERE purpose = \(hostile)", logger: logger)
            #expect(try await rows.decode(Int.self).first(where: { _ in true }) == 2)
        }
    }

    @Test("deciding a step that is not yours: forbidden, logged as a security event, nothing else written")
    func notYourStep() async throws {
        try await ServiceFixture.with { fixture in
            let request = try await fixture.shared("baumkataster")
            // Stefan stewards Umwelt, but the owner step waits for Otto.
            let error = try await expectNothingChanged(fixture, .forbidden, auditRows: 1) {
                try await fixture.decide(request, by: People.stefan, at: Clock.days(1))
            }
            #expect(error?.engineCode == "not_authorised")
            #expect(error?.message.german == "Sie sind für diesen Schritt nicht zuständig.")
            // The requester can never decide, even holding the role.
            var annaAsDSB = People.anna
            annaAsDSB.roles = [.dsb, .governance]
            let own = try await fixture.shared("meldestatistik", legalBasis: "Art. 6", by: annaAsDSB)
            _ = try await expectNothingChanged(fixture, .forbidden, auditRows: 1) {
                try await fixture.decide(own, by: annaAsDSB, at: Clock.days(1))
            }
            // Someone unrelated cannot even see it: not found, and the probe is logged.
            _ = try await expectNothingChanged(fixture, .notFound, auditRows: 1) {
                try await fixture.decide(request, by: People.paul, at: Clock.days(1))
            }
            _ = try await expectNothingChanged(fixture, .notFound, auditRows: 1) {
                try await fixture.service.request(
                    id: request.id, caller: People.paul, now: Clock.days(1), logger: logger)
            }
            // A request that does not exist: not found, nothing logged (there is nothing to protect).
            _ = try await expectNothingChanged(fixture, .notFound) {
                try await fixture.service.request(id: UUID(), caller: People.paul, now: Clock.days(1), logger: logger)
            }
            let rows = try await fixture.admin.query(
                """
                SELECT event, actor, host(client_address), details->>'engine_code' FROM audit_events
                WHERE event IN ('forbidden', 'read_denied') ORDER BY id
                """, logger: logger)
            var events: [String] = []
            for try await (event, actor, address, code) in rows.decode((String, String?, String?, String?).self) {
                events.append("\(event) \(actor ?? "-") \(address ?? "-") \(code ?? "-")")
            }
            #expect(
                events == [
                    "forbidden stefan - not_authorised", "forbidden anna 192.0.2.10 requester_cannot_decide",
                    "forbidden paul - ", "read_denied paul - -",
                ])
        }
    }

    @Test("deciding twice and deciding a withdrawn request")
    func decidingTwiceAndWithdrawn() async throws {
        try await ServiceFixture.with { fixture in
            let request = try await fixture.shared("luftmessstationen")
            _ = try await fixture.decide(request, by: People.otto, at: Clock.days(1))
            // Otto decided the owner step and clicks again: the step moved on, he is told who decided it
            // (himself) and when; a double click is no security event.
            let twice = try await expectNothingChanged(fixture, .conflict) {
                try await fixture.decide(request, by: People.otto, at: Clock.days(1))
            }
            #expect(twice?.engineCode == "already_decided")
            #expect(twice?.message.german.contains("Sie haben über diesen Schritt bereits am ") == true)
            // A steward of Umwelt who also owns it decided the owner step: separation of duties keeps him
            // from the steward step; he too hears that he already decided.
            var ottoSteward = People.otto
            ottoSteward.stewardDomains = ["umwelt"]
            let separation = try await expectNothingChanged(fixture, .conflict) {
                try await fixture.decide(request, by: ottoSteward, at: Clock.days(2))
            }
            #expect(separation?.engineCode == "already_decided")
            // Someone with no part in it is still refused and recorded.
            let stranger = try await expectNothingChanged(fixture, .forbidden, auditRows: 1) {
                try await fixture.decide(request, by: People.greta, at: Clock.days(2))
            }
            #expect(stranger?.engineCode == "not_authorised")

            let other = try await fixture.shared("baumkataster")
            _ = try await fixture.service.withdraw(
                requestID: other.id, caller: People.anna, now: Clock.days(1), logger: logger)
            let withdrawn = try await expectNothingChanged(fixture, .invalidState) {
                try await fixture.decide(other, by: People.otto, at: Clock.days(2))
            }
            #expect(withdrawn?.engineCode == "invalid_transition")
            _ = try await expectNothingChanged(fixture, .invalidState) {
                try await fixture.service.withdraw(
                    requestID: other.id, caller: People.anna, now: Clock.days(2), logger: logger)
            }
            // Only the requester withdraws.
            let third = try await fixture.shared("baumkataster")
            let notRequester = try await expectNothingChanged(fixture, .forbidden, auditRows: 1) {
                try await fixture.service.withdraw(
                    requestID: third.id, caller: People.otto, now: Clock.days(1), logger: logger)
            }
            #expect(notRequester?.engineCode == "not_requester")
            // A stale version is a conflict before anything else.
            _ = try await expectNothingChanged(fixture, .conflict) {
                try await fixture.service.decide(
                    requestID: third.id, decision: approve, caller: People.otto, now: Clock.days(1),
                    expectedVersion: third.version + 5, logger: logger)
            }
        }
    }

    @Test("security events from the HTTP layer are appended; hostile details are cut, not refused")
    func securityEvents() async throws {
        try await ServiceFixture.with { fixture in
            try await fixture.service.recordSecurityEvent(
                SecurityEvent(
                    event: .loginFailed, actor: "anna\u{0}'--", clientAddress: "not-an-address",
                    details: ["user_agent": String(repeating: "u", count: 5000)]),
                now: Clock.start, logger: logger)
            let rows = try await fixture.admin.query(
                """
                SELECT actor, client_address IS NULL, details->>'client_address_raw', length(details->>'user_agent')
                FROM audit_events WHERE event = 'login_failed'
                """, logger: logger)
            for try await (actor, noAddress, raw, length) in rows.decode((String, Bool, String?, Int).self) {
                #expect(actor == "anna\u{FFFD}'--")
                #expect(noAddress)
                #expect(raw == "not-an-address")
                #expect(length == 1000)
            }
            // Event names are an enum now; every one of them must pass the column's CHECK.
            for event in AuditEvent.allCases {
                try await fixture.service.recordSecurityEvent(
                    SecurityEvent(event: event, actor: "anna"), now: Clock.start, logger: logger)
            }
            let stored = try await fixture.admin.query(
                "SELECT count(DISTINCT event) FROM audit_events WHERE actor = 'anna'", logger: logger)
            for try await count in stored.decode(Int.self) { #expect(count == AuditEvent.allCases.count) }
        }
    }
}
