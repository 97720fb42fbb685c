import AuditLog
import Foundation
import Logging
import PostgresNIO
import Testing

@testable import FreigabeServer

/// The auditor's side of the decision log against real PostgreSQL: queries, streamed exports that
/// verify offline, hostile filters, CSV for spreadsheets, and the cross-check of each request's stored
/// state against its decisions and events.
@Suite("Decision log: queries, exports, offline verification")
struct AuditExportTests {
    let logger = StoreTestSupport.logger
    static let signer = AuditSealTests.signer

    /// Files of one test, removed afterwards.
    struct Folder {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("audit-export-\(UUID())")
        func path(_ name: String) -> String { url.appendingPathComponent(name).path }

        static func with<Result>(_ body: (Folder) async throws -> Result) async throws -> Result {
            let folder = Folder()
            try FileManager.default.createDirectory(at: folder.url, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: folder.url) }
            try Self.signer.verifierKey.vkey.write(toFile: folder.path("audit.pub"), atomically: true, encoding: .utf8)
            return try await body(folder)
        }

        static let signer = AuditExportTests.signer
    }

    /// Several requests through the shipped workflows, each path once: granted with a comment, all
    /// steps then revoked, Personalunion, rejected, withdrawn, changes requested. Sealed.
    func lifecycles(_ fixture: ServiceFixture, checkpointFile: String? = nil) async throws -> UInt64 {
        let granted = try await fixture.shared("baumkataster")
        let owner = try await fixture.decide(granted, by: People.otto, at: Clock.days(1))
        _ = try await fixture.decide(
            owner, by: People.stefan, .approve(comment: "Passt so", licence: nil, portalURL: nil), at: Clock.days(2))
        let sealer = AuditSealer(client: fixture.app, signer: Self.signer, checkpointFile: checkpointFile)
        // A first checkpoint in the middle: the outside copy then holds two.
        _ = try await sealer.sealAll(now: Clock.days(2), logger: logger)

        var view = try await fixture.shared(
            "meldestatistik", recipient: RecipientInput(name: "Universität Beispielstadt", type: .external),
            legalBasis: "Art. 6 Abs. 1 lit. e DSGVO")
        view = try await fixture.decide(view, by: People.marta, at: Clock.days(3))
        view = try await fixture.decide(view, by: People.bea, at: Clock.days(3))
        view = try await fixture.decide(view, by: People.dora, at: Clock.days(4))
        view = try await fixture.decide(view, by: People.ingo, at: Clock.days(4))
        _ = try await fixture.service.revoke(
            requestID: view.id, reason: "Zweckentfremdung", caller: People.dora, now: Clock.days(5), logger: logger)
        _ = try await fixture.decide(try await fixture.shared("parkraumbelegung"), by: People.sina, at: Clock.days(5))
        _ = try await fixture.decide(
            try await fixture.shared("luftmessstationen"), by: People.otto, .reject(reason: "Nicht validiert."),
            at: Clock.days(6))
        _ = try await fixture.service.withdraw(
            requestID: try await fixture.shared("laermkartierung").id, comment: "Erledigt", caller: People.anna,
            now: Clock.days(6), logger: logger)
        _ = try await fixture.decide(
            try await fixture.shared("baumkataster"), by: People.otto, .requestChanges(question: "Wozu genau?"),
            at: Clock.days(7))
        return try await sealer.sealAll(now: Clock.days(7), logger: logger)
    }

    /// The request for meldestatistik that ``lifecycles(_:checkpointFile:)`` files.
    func meldestatistikRequest(_ fixture: ServiceFixture) async throws -> UUID {
        try #require(
            try await fixture.admin.query(
                "SELECT id FROM requests WHERE dataset_id = 'meldestatistik'", logger: logger
            ).decode(UUID.self).first(where: { _ in true }))
    }

    func verify(_ fixture: ServiceFixture) async throws -> AuditVerification.Report {
        try await AuditVerification(
            client: fixture.admin, keys: TrustedKeys(Self.signer.verifierKey), appRole: "freigabe_app"
        )
        .run(logger: logger)
    }

    func export(
        _ fixture: ServiceFixture, _ filter: AuditFilter = AuditFilter(), format: AuditExportFormat = .jsonl,
        csv: CSVOptions = CSVOptions(), to path: String
    ) async throws -> AuditExporter.Result {
        let output = try ExportOutput.open(path)
        return try await AuditExporter(query: AuditQuery(client: fixture.app)).export(
            filter, format: format, csv: csv, to: output, logger: logger)
    }

    func lines(_ path: String) throws -> [ExportLine] {
        try ExportLines.split(Array(try Data(contentsOf: URL(fileURLWithPath: path)))).map {
            try ExportLine(decoding: Array($0.dropLast()))
        }
    }

    @Test("every request's stored state agrees with its decisions and events after each kind of lifecycle")
    func stateAgrees() async throws {
        try await ServiceFixture.with { fixture in
            let size = try await lifecycles(fixture)
            #expect(size > 20)
            let report = try await verify(fixture)
            #expect(report.problems == [])
            #expect(report.summary?.coveredSize == size)
        }
    }

    @Test("a snapshot rewritten by the tables' owner is found, with the request and the decision")
    func rewrittenSnapshotIsFound() async throws {
        try await ServiceFixture.with { fixture in
            _ = try await lifecycles(fixture)
            let id = try await meldestatistikRequest(fixture)
            // Only the state column (then put back).
            let state = try #require(
                try await fixture.admin.query(
                    "SELECT state FROM requests WHERE dataset_id = 'luftmessstationen'", logger: logger
                ).decode(String.self).first(where: { _ in true }))
            try await fixture.admin.query(
                "UPDATE requests SET state = 'granted' WHERE dataset_id = 'luftmessstationen'", logger: logger)
            #expect(
                try await verify(fixture).problems.first?.contains(
                    "requests.state is granted, the snapshot's state is \(state)") == true)
            try await fixture.admin.query(
                "UPDATE requests SET state = \(state) WHERE dataset_id = 'luftmessstationen'", logger: logger)
            #expect(try await verify(fixture).problems == [])

            // The snapshot alone: the timeline would show mallory as the DSB.
            try await fixture.admin.query(
                """
                UPDATE requests SET snapshot = jsonb_set(snapshot, '{decisions,2,person}', '"mallory"')
                WHERE id = \(id)
                """, logger: logger)
            var report = try await verify(fixture)
            #expect(report.problems.count == 1, "\(report.problems)")
            #expect(report.summary != nil, "the log itself still holds")
            let problem = try #require(report.problems.first)
            #expect(problem.contains(id.uuidString.lowercased()))
            #expect(problem.contains("decision #2: the snapshot says approved by mallory"))
            #expect(problem.contains("the decisions table says approved by dora"))

            // The careful owner rewrites the decisions too, with their trigger disabled: the log disagrees.
            try await fixture.admin.query("ALTER TABLE decisions DISABLE TRIGGER USER", logger: logger)
            try await fixture.admin.query(
                "UPDATE decisions SET person = 'mallory' WHERE request_id = \(id) AND position = 2", logger: logger)
            try await fixture.admin.query("ALTER TABLE decisions ENABLE TRIGGER USER", logger: logger)
            report = try await verify(fixture)
            #expect(report.problems.count == 1, "\(report.problems)")
            #expect(
                report.problems.first?.contains(
                    "decision #2: the decisions table says approved by mallory at step privacy_review, the decision log says approved by dora at step privacy_review"
                ) == true, "\(report.problems)")
        }
    }

    /// The owner deletes a granted request with its decisions (their trigger off for the moment), its
    /// timers and links: the log holds, every remaining row agrees with it, and only the log still knows
    /// the request. Verify names it.
    @Test("a request row deleted by the owner is found by verify")
    func deletedRequestIsFound() async throws {
        try await ServiceFixture.with { fixture in
            _ = try await lifecycles(fixture)
            #expect(try await verify(fixture).problems == [])
            let id = try await meldestatistikRequest(fixture)
            try await fixture.admin.query("ALTER TABLE decisions DISABLE TRIGGER USER", logger: logger)
            try await fixture.admin.query("DELETE FROM decisions WHERE request_id = \(id)", logger: logger)
            try await fixture.admin.query("ALTER TABLE decisions ENABLE TRIGGER USER", logger: logger)
            for table in ["timers", "decision_links"] {
                try await fixture.admin.query(
                    "DELETE FROM \(unescaped: table) WHERE request_id = \(id)", logger: logger)
            }
            try await fixture.admin.query("DELETE FROM requests WHERE id = \(id)", logger: logger)
            let report = try await verify(fixture)
            #expect(report.summary != nil, "the log itself still holds")
            #expect(report.problems.count == 1, "\(report.problems)")
            let problem = report.problems.first ?? ""
            #expect(problem.contains("(\(id.uuidString.lowercased())): the decision log records it"), "\(problem)")
            #expect(problem.contains("its stored row is missing"), "\(problem)")
        }
    }

    @Test("a recipient, purpose, comment or decision time rewritten in the mutable rows is found by verify")
    func rewrittenDetailsAreFound() async throws {
        try await ServiceFixture.with { fixture in
            _ = try await lifecycles(fixture)
            #expect(try await verify(fixture).problems == [])
            let id = try await meldestatistikRequest(fixture)
            // Each forgery alone, then put back: the request row and the snapshot are the owner's to
            // rewrite, the log they were stated in is not.
            let forgeries: [(forge: String, undo: String, found: String)] = [
                (
                    "UPDATE requests SET recipient_name = 'Datenhändler GmbH' WHERE id = $1",
                    "UPDATE requests SET recipient_name = 'Universität Beispielstadt' WHERE id = $1",
                    "the request's recipient is not the one its last submission logged"
                ),
                (
                    "UPDATE requests SET legal_basis = 'Art. 6 Abs. 1 lit. a DSGVO' WHERE id = $1",
                    "UPDATE requests SET legal_basis = 'Art. 6 Abs. 1 lit. e DSGVO' WHERE id = $1",
                    "the request's legal_basis is not the one its last submission logged"
                ),
                (
                    "UPDATE requests SET access_end = access_end + interval '1 year' WHERE id = $1",
                    "UPDATE requests SET access_end = access_end - interval '1 year' WHERE id = $1",
                    "the request's access_end is not the one its last submission logged"
                ),
                (
                    "UPDATE requests SET snapshot = jsonb_set(snapshot, '{decisions,3,comment}', '\"Alles gut\"') WHERE id = $1",
                    "UPDATE requests SET snapshot = snapshot #- '{decisions,3,comment}' WHERE id = $1",
                    "decision #3: the snapshot says approved by ingo at step security_review, the decisions table says approved by ingo"
                ),
                (
                    "UPDATE requests SET snapshot = jsonb_set(snapshot, '{decisions,0,at}', to_jsonb((snapshot #>> '{decisions,0,at}')::float8 - 86400)) WHERE id = $1",
                    "UPDATE requests SET snapshot = jsonb_set(snapshot, '{decisions,0,at}', to_jsonb((snapshot #>> '{decisions,0,at}')::float8 + 86400)) WHERE id = $1",
                    "decision #0: the snapshot says approved by marta"
                ),
                (
                    "UPDATE requests SET snapshot = jsonb_set(snapshot, '{facts,personalData}', '\"none\"') WHERE id = $1",
                    "UPDATE requests SET snapshot = jsonb_set(snapshot, '{facts,personalData}', '\"pseudonymised\"') WHERE id = $1",
                    "the snapshot's routing facts are not the ones its last submission logged"
                ),
            ]
            for (forge, undo, found) in forgeries {
                try await fixture.admin.query(
                    PostgresQuery(unsafeSQL: forge, binds: try Self.binds(id)), logger: logger)
                let problems = try await verify(fixture).problems
                #expect(problems.count == 1, "\(forge): \(problems)")
                #expect(problems.first?.contains(found) == true, "\(forge): \(problems)")
                #expect(problems.first?.contains(id.uuidString.lowercased()) == true)
                try await fixture.admin.query(PostgresQuery(unsafeSQL: undo, binds: try Self.binds(id)), logger: logger)
                #expect(try await verify(fixture).problems == [], "\(undo)")
            }
        }
    }

    @Test("what a snapshot says of its step, question or granted access, rewritten, is found by verify and the page")
    func rewrittenStepStateIsFound() async throws {
        try await ServiceFixture.with { fixture in
            _ = try await lifecycles(fixture)
            // An Open Data request at its parallel legal review (only the DSB branch applies), overdue and
            // escalated by the timer.
            var open = try await fixture.open("bevoelkerungsprognose", anonymisation: "Aggregiert auf Stadtbezirke.")
            open = try await fixture.decide(open, by: People.marta, at: Clock.days(8))
            open = try await fixture.decide(open, by: People.bea, at: Clock.days(8))
            #expect(open.status.step == "legal_review")
            _ = try await fixture.service.fireDueTimers(now: Clock.days(30), logger: logger)
            _ = try await AuditSealer(client: fixture.app, signer: Self.signer, checkpointFile: nil).sealAll(
                now: Clock.days(30), logger: logger)
            #expect(
                try await fixture.service.request(id: open.id, caller: People.anna, now: Clock.days(30), logger: logger)
                    .status.escalated)
            #expect(try await verify(fixture).problems == [])

            func request(state: String) async throws -> UUID {
                try #require(
                    try await fixture.admin.query(
                        "SELECT id FROM requests WHERE starts_with(state, \(state)) ORDER BY number LIMIT 1",
                        logger: logger
                    ).decode(UUID.self).first(where: { _ in true }))
            }
            let asked = try await request(state: "changes_requested:")
            let granted = try await request(state: "granted:")
            let progress = "'{state,inReview,_0"
            let day = "86400"
            // Each forgery alone, then put back.
            let forgeries: [(id: UUID, forge: String, undo: String, found: String)] = [
                (
                    open.id,
                    "jsonb_set(snapshot, \(progress),enteredAt}', to_jsonb((snapshot #>> \(progress),enteredAt}')::float8 - \(day)))",
                    "jsonb_set(snapshot, \(progress),enteredAt}', to_jsonb((snapshot #>> \(progress),enteredAt}')::float8 + \(day)))",
                    "the snapshot says step legal_review was entered at"
                ),
                (
                    open.id, "jsonb_set(snapshot, \(progress),escalated}', 'false')",
                    "jsonb_set(snapshot, \(progress),escalated}', 'true')",
                    "the decision log holds an escalation of step legal_review, the snapshot says it did not escalate"
                ),
                (
                    open.id, "jsonb_set(snapshot, \(progress),activeBranches}', '[\"security_review\"]')",
                    "jsonb_set(snapshot, \(progress),activeBranches}', '[\"privacy_review\"]')",
                    "the snapshot says step legal_review waits for [\"security_review\"], the workflow for these facts names [\"privacy_review\"]"
                ),
                (
                    // The DSB's approval, made up from the owner's decision: the step would complete on
                    // nobody's word.
                    open.id,
                    "jsonb_set(snapshot, \(progress),approvals}', jsonb_build_object('privacy_review', jsonb_build_array(jsonb_set(snapshot #> '{decisions,0}', '{branch}', '\"privacy_review\"'))))",
                    "jsonb_set(snapshot, \(progress),approvals}', '{}')",
                    "the snapshot says step legal_review was approved by [\"marta\"], its decisions since the step was entered by []"
                ),
                (
                    // Three more days for the DSB: the step is no longer overdue on its pages.
                    open.id,
                    "jsonb_set(snapshot, \(progress),deadline}', to_jsonb((snapshot #>> \(progress),deadline}')::float8 + 3 * \(day)))",
                    "jsonb_set(snapshot, \(progress),deadline}', to_jsonb((snapshot #>> \(progress),deadline}')::float8 - 3 * \(day)))",
                    "the snapshot says step legal_review is due"
                ),
                (
                    asked, "jsonb_set(snapshot, '{state,changesRequested,question}', '\"Alles klar?\"')",
                    "jsonb_set(snapshot, '{state,changesRequested,question}', '\"Wozu genau?\"')",
                    "the snapshot's question is not the one its last decision asked"
                ),
                (
                    granted,
                    "jsonb_set(snapshot, '{state,granted,until}', to_jsonb((snapshot #>> '{state,granted,until}')::float8 + 365 * \(day)))",
                    "jsonb_set(snapshot, '{state,granted,until}', to_jsonb((snapshot #>> '{state,granted,until}')::float8 - 365 * \(day)))",
                    "the snapshot's granted access does not end at the request's access end"
                ),
                (
                    granted,
                    "jsonb_set(snapshot, '{accessEnd}', to_jsonb((snapshot #>> '{accessEnd}')::float8 + \(day)))",
                    "jsonb_set(snapshot, '{accessEnd}', to_jsonb((snapshot #>> '{accessEnd}')::float8 - \(day)))",
                    "the snapshot's access end is not the request's"
                ),
            ]
            for (id, forge, undo, found) in forgeries {
                let update = { (value: String) in
                    PostgresQuery(
                        unsafeSQL: "UPDATE requests SET snapshot = \(value) WHERE id = $1", binds: try Self.binds(id))
                }
                try await fixture.admin.query(try update(forge), logger: logger)
                let problems = try await verify(fixture).problems
                #expect(problems.count == 1, "\(forge): \(problems)")
                #expect(problems.first?.contains(found) == true, "\(forge): \(problems)")
                #expect(problems.first?.contains(id.uuidString.lowercased()) == true)
                // The request's page and the API refuse to show the forged state.
                await expectServiceError(.internal) {
                    try await fixture.service.request(id: id, caller: People.anna, now: Clock.days(30), logger: logger)
                }
                try await fixture.admin.query(try update(undo), logger: logger)
                #expect(try await verify(fixture).problems == [], "\(undo)")
            }
        }
    }

    static func binds(_ id: UUID) throws -> PostgresBindings {
        var binds = PostgresBindings()
        try binds.append(id, context: .default)
        return binds
    }

    @Test("an export never replaces a folder (nothing in it deleted); an earlier file is replaced whole")
    func exportTargets() async throws {
        try await Folder.with { folder in
            try await ServiceFixture.with { fixture in
                let size = try await lifecycles(fixture)
                let exports = folder.path("exports")
                try FileManager.default.createDirectory(atPath: exports, withIntermediateDirectories: false)
                try "keep".write(toFile: exports + "/earlier.jsonl", atomically: true, encoding: .utf8)
                await #expect(throws: AuditExportError.self) { try await export(fixture, to: exports) }
                await #expect(throws: AuditExportError.self) { try await export(fixture, to: exports + "/") }
                #expect(try String(contentsOfFile: exports + "/earlier.jsonl", encoding: .utf8) == "keep")
                #expect(try FileManager.default.contentsOfDirectory(atPath: exports) == ["earlier.jsonl"])
                let result = try await export(fixture, to: exports + "/earlier.jsonl")
                #expect(result.eventCount == size)
                #expect(try lines(exports + "/earlier.jsonl").count == Int(size) + 2)
                #expect(try FileManager.default.contentsOfDirectory(atPath: exports) == ["earlier.jsonl"])
            }
        }
    }

    /// The outside copy is appended to by the server's sealer and by `freigabe audit seal` alike: notes
    /// written at the same moment must all arrive whole, none over another.
    @Test("notes appended to the checkpoint file from several threads at once all arrive whole")
    func checkpointFileAppendsAtOnce() async throws {
        try await Folder.with { folder in
            let path = folder.path("checkpoints.txt")
            let writers = 4
            let perWriter = 150
            DispatchQueue.concurrentPerform(iterations: writers) { writer in
                for number in 0..<perWriter {
                    let note =
                        "freigabe.example/log\n\(writer * perWriter + number)\nwurzel\n\n— freigabe sig\(writer)-\(number)\n"
                    #expect(throws: Never.self) { try AuditSealer.append(note, to: path) }
                }
            }
            let notes = CheckpointFile.notes(in: try String(contentsOfFile: path, encoding: .utf8))
            #expect(notes.count == writers * perWriter)
            let sizes = Set(notes.compactMap { $0.split(separator: "\n").dropFirst().first.flatMap { Int($0) } })
            #expect(sizes == Set(0..<(writers * perWriter)), "every note whole, each once")
        }
    }

    /// A full disk cannot be made in a test: the write is injected. A note that reaches the file only in
    /// part is cut off again, so that the next note does not run into a fragment; every failure names the
    /// call and the system's reason, and a missing directory is not called "no permission".
    @Test("a short or failed write leaves the checkpoint file as it was, and says why")
    func checkpointFileShortWrite() async throws {
        try await Folder.with { folder in
            let path = folder.path("checkpoints.txt")
            let first = "freigabe.example/log\n1\nwurzel\n\n— freigabe sig1\n"
            let second = "freigabe.example/log\n2\nwurzel\n\n— freigabe sig2\n"
            try AuditSealer.append(first, to: path)
            let before = try Data(contentsOf: URL(fileURLWithPath: path))
            // Half of the note reaches the disk.
            do throws(CheckpointFileError) {
                try AuditSealer.append(second, to: path) { descriptor, bytes in
                    write(descriptor, bytes.baseAddress, bytes.count / 2)
                }
                Issue.record("a short write was taken for a whole one")
            } catch {
                #expect(error.call.hasPrefix("write ("), "\(error)")
                #expect(error.description.contains("cut off again"), "\(error)")
            }
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
            // Nothing written: the disk is full.
            let full = CheckpointFileError(path: path, call: "write", code: ENOSPC)
            #expect(throws: full) {
                try AuditSealer.append(second, to: path) { _, _ in
                    errno = ENOSPC
                    return -1
                }
            }
            #expect(full.description == "write \(path): No space left on device")
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
            // Interrupted before anything was written: tried again.
            var interrupted = false
            try AuditSealer.append(second, to: path) { descriptor, bytes in
                if !interrupted {
                    interrupted = true
                    errno = EINTR
                    return -1
                }
                return write(descriptor, bytes.baseAddress, bytes.count)
            }
            #expect(CheckpointFile.notes(in: try String(contentsOfFile: path, encoding: .utf8)) == [first, second])
            let missing = folder.path("no/such/cp.txt")
            #expect(throws: CheckpointFileError(path: missing, call: "open", code: ENOENT)) {
                try AuditSealer.append(first, to: missing)
            }
        }
    }

    @Test("a complete export streams every sealed event and verifies offline against the outside checkpoints")
    func completeExportVerifies() async throws {
        try await Folder.with { folder in
            try await ServiceFixture.with { fixture in
                let size = try await lifecycles(fixture, checkpointFile: folder.path("checkpoints.txt"))
                let result = try await export(fixture, to: folder.path("export.jsonl"))
                #expect(result == AuditExporter.Result(eventCount: size, treeSize: size))
                let read = try lines(folder.path("export.jsonl"))
                #expect(read.count == Int(size) + 2)
                guard case .header(let header) = read.first else {
                    Issue.record("no header")
                    return
                }
                #expect(header.selection == .complete)
                #expect(header.treeSize == size)
                let sequences = read.compactMap { line -> UInt64? in
                    if case .event(let event) = line { return event.event.sequence }
                    return nil
                }
                #expect(sequences == Array(0..<size))

                let verified = AuditTool.verifyExport(
                    exportFile: folder.path("export.jsonl"), checkpointFile: folder.path("checkpoints.txt"),
                    publicKeyFile: folder.path("audit.pub"))
                #expect(verified.succeeded, "\(verified)")
                #expect(verified.standardOutput.contains { $0.contains("alle \(size) Ereignisse") })
                #expect(!verified.standardOutput.contains { $0.hasPrefix("Hinweis:") })

                // Years later the copy of the checkpoints has grown: the export is still what it was, and
                // the auditor learns that it ends before the copy does.
                _ = try await fixture.shared("baumkataster")
                let grown = try await AuditSealer(
                    client: fixture.app, signer: Self.signer, checkpointFile: folder.path("checkpoints.txt")
                ).sealAll(now: Clock.days(30), logger: logger)
                #expect(grown > size)
                let later = AuditTool.verifyExport(
                    exportFile: folder.path("export.jsonl"), checkpointFile: folder.path("checkpoints.txt"),
                    publicKeyFile: folder.path("audit.pub"))
                #expect(later.succeeded, "\(later)")
                let hint =
                    "Hinweis: Die Checkpoint-Kopie reicht bis Baumgröße \(grown); dieser Export endet bei \(size)"
                #expect(later.standardOutput.contains { $0.hasPrefix(hint) }, "\(later)")

                // One byte changed in the file: found, with its line.
                var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: folder.path("export.jsonl"))))
                let position = try #require(bytes.firstRange(of: Array(#""actor":"stefan""#.utf8)))
                bytes[position.lowerBound + 9] = UInt8(ascii: "S")
                try Data(bytes).write(to: URL(fileURLWithPath: folder.path("changed.jsonl")))
                let broken = AuditTool.verifyExport(
                    exportFile: folder.path("changed.jsonl"), checkpointFile: folder.path("checkpoints.txt"),
                    publicKeyFile: folder.path("audit.pub"))
                #expect(!broken.succeeded)
                #expect(broken.standardError.first?.contains("does not match the leaf hash") == true, "\(broken)")
                #expect(broken.standardError.first?.hasPrefix("FEHLER: line ") == true)

                // The wrong key, and a checkpoint file that is not one.
                let other = try NoteSigner.generate(keyName: "freigabe.test/audit")
                try other.verifierKey.vkey.write(toFile: folder.path("other.pub"), atomically: true, encoding: .utf8)
                #expect(
                    !AuditTool.verifyExport(
                        exportFile: folder.path("export.jsonl"), checkpointFile: folder.path("checkpoints.txt"),
                        publicKeyFile: folder.path("other.pub")
                    ).succeeded)
                #expect(
                    !AuditTool.verifyExport(
                        exportFile: folder.path("export.jsonl"), checkpointFile: folder.path("audit.pub"),
                        publicKeyFile: folder.path("audit.pub")
                    ).succeeded)
            }
        }
    }

    @Test("filtered exports carry inclusion proofs, contain only matching events and verify offline")
    func filteredExportsVerify() async throws {
        try await Folder.with { folder in
            try await ServiceFixture.with { fixture in
                let size = try await lifecycles(fixture, checkpointFile: folder.path("checkpoints.txt"))
                let requester = try AuditFilter.parse(person: "stefan")
                let byDataset = try AuditFilter.parse(dataset: "baumkataster")
                let byRequest = AuditFilter(
                    requestID: try await meldestatistikRequest(fixture))
                let byTime = try AuditFilter.parse(from: "2026-03-05", to: "2026-03-06")
                for (name, filter, matches) in [
                    (
                        "person", requester,
                        { (e: AuditLog.AuditEvent) in e.actor == "stefan" || e.actingFor == "stefan" }
                    ),
                    ("dataset", byDataset, { (e: AuditLog.AuditEvent) in e.datasetID == "baumkataster" }),
                    ("request", byRequest, { (e: AuditLog.AuditEvent) in e.requestID == byRequest.requestID }),
                    (
                        "time", byTime,
                        { (e: AuditLog.AuditEvent) in e.occurredAt.rfc3339?.hasPrefix("2026-03-0") == true }
                    ),
                ] as [(String, AuditFilter, (AuditLog.AuditEvent) -> Bool)] {
                    let path = folder.path("\(name).jsonl")
                    let result = try await export(fixture, filter, to: path)
                    #expect(result.treeSize == size)
                    #expect(result.eventCount > 0 && result.eventCount < size, "\(name): \(result)")
                    let events = try lines(path).compactMap { line -> ExportedEvent? in
                        if case .event(let event) = line { return event }
                        return nil
                    }
                    #expect(events.allSatisfy { matches($0.event) }, "\(name)")
                    #expect(events.allSatisfy { $0.inclusionProof?.isEmpty == false }, "\(name)")
                    let verified = AuditTool.verifyExport(
                        exportFile: path, checkpointFile: folder.path("checkpoints.txt"),
                        publicKeyFile: folder.path("audit.pub"))
                    #expect(verified.succeeded, "\(name): \(verified)")
                }
                // The time filter: 5 and 6 March 2026 in Berlin, both whole days.
                let page = try await AuditQuery(client: fixture.app).page(byTime, limit: 1000, logger: logger)
                #expect(!page.events.isEmpty)
                #expect(
                    page.events.allSatisfy {
                        $0.stored.row.occurredAt >= Clock.date("2026-03-04T23:00:00Z")
                            && $0.stored.row.occurredAt < Clock.date("2026-03-06T23:00:00Z")
                    })
                // The person filter's third arm (`= ANY(ARRAY(…))`): the requester sees the events of their
                // requests where someone else acted, and nothing of other requests they did not act in.
                let (owner, ids) = try #require(
                    try await fixture.admin.query(
                        "SELECT requester, array_agg(id) FROM requests GROUP BY requester ORDER BY requester LIMIT 1",
                        logger: logger
                    ).decode((String, [UUID]).self).first(where: { _ in true }))
                let mine = try await AuditQuery(client: fixture.app).page(
                    try AuditFilter.parse(person: owner), limit: 1000, logger: logger)
                #expect(
                    mine.events.contains { $0.stored.row.actor != owner && $0.stored.row.actingFor != owner })
                #expect(
                    mine.events.allSatisfy {
                        $0.stored.row.actor == owner || $0.stored.row.actingFor == owner
                            || $0.stored.row.requestID.map(ids.contains) == true
                    })
            }
        }
    }

    @Test("keyset pages walk the sealed log by time without gaps or repeats, both ways; filters narrow them")
    func pages() async throws {
        try await ServiceFixture.with { fixture in
            let size = try await lifecycles(fixture)
            let query = AuditQuery(client: fixture.app)
            for order in AuditQuery.Order.allCases {
                var after: UInt64?
                var seen: [SealedEvent] = []
                var pages = 0
                repeat {
                    let page = try await query.page(AuditFilter(), after: after, limit: 7, order: order, logger: logger)
                    #expect(page.events.count <= 7)
                    seen += page.events
                    after = page.nextAfter
                    pages += 1
                } while after != nil && pages < 100
                #expect(seen.map(\.sequence).sorted() == Array(0..<size), "\(order): every place once")
                // Sorted by time, then by the row's id; the lifecycles' days are not the order of their places.
                let keys = seen.map { ($0.stored.row.occurredAt, $0.stored.id) }
                let sorted = keys.sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
                let expected = order == .oldest ? sorted : sorted.reversed()
                #expect(keys.map(\.1) == expected.map(\.1), "\(order)")
            }
            // Every event read back encodes to the leaf hash recorded at sealing.
            let all = try await query.page(AuditFilter(), limit: 1000, logger: logger)
            #expect(all.events.allSatisfy { $0.leaf.leafHash == $0.leafHash })
            #expect(all.nextAfter == nil)

            let decisions = try await query.page(
                try AuditFilter.parse(person: "dora", types: ["approved", "revoked"]), limit: 1000, logger: logger)
            #expect(decisions.events.map(\.stored.row.event) == [.approved, .revoked])
            let rejections = try await query.page(try AuditFilter.parse(decision: "rejected"), logger: logger)
            #expect(rejections.events.map(\.stored.row.actor) == ["otto"])
            let owners = try await query.page(try AuditFilter.parse(role: "data_owner"), limit: 1000, logger: logger)
            #expect(!owners.events.isEmpty && owners.events.allSatisfy { $0.stored.row.role == "data_owner" })
            // Umwelt's datasets (baumkataster, laermkartierung, ...), not meldestatistik.
            let inUmwelt = try await fixture.admin.query(
                "SELECT id FROM datasets WHERE domain_id = 'umwelt'", logger: logger
            ).decode(String.self).reduce(into: Set<String>()) { $0.insert($1) }
            #expect(!inUmwelt.contains("meldestatistik"))
            let umwelt = try await query.page(try AuditFilter.parse(domain: "umwelt"), limit: 1000, logger: logger)
            #expect(Set(umwelt.events.compactMap(\.stored.row.datasetID)).isSubset(of: inUmwelt))
            #expect(umwelt.events.contains { $0.stored.row.datasetID == "laermkartierung" })
            #expect(throws: AuditFilterError.self) { try AuditFilter.parse(decision: "maybe") }
            #expect(throws: AuditFilterError.self) { try AuditFilter.parse(role: "dsb' OR 1=1") }
        }
    }

    @Test("hostile filters are refused with the reason before anything is opened or written")
    func hostileFilters() async throws {
        try await Folder.with { folder in
            let environment = try StoreTestSupport.environment()
            let cases: [(String, AuditTool.ExportRequest)] = [
                ("--from", .init(format: .jsonl, from: "2026-02-30", output: folder.path("a"))),
                ("--from", .init(format: .jsonl, from: "gestern", output: folder.path("a"))),
                ("--to", .init(format: .jsonl, from: "2026-03-05", to: "2026-03-01", output: folder.path("a"))),
                ("--to", .init(format: .csv, to: "2026-03-01'; DROP TABLE audit_events; --", output: folder.path("a"))),
                ("--dataset", .init(format: .jsonl, dataset: "x' OR '1'='1", output: folder.path("a"))),
                ("--dataset", .init(format: .jsonl, dataset: "Baumkataster", output: folder.path("a"))),
                (
                    "--person",
                    .init(format: .jsonl, person: "anna'; DROP TABLE audit_events; --", output: folder.path("a"))
                ),
                ("--person", .init(format: .jsonl, person: "anna\nmallory", output: folder.path("a"))),
                (
                    "--person",
                    .init(format: .jsonl, person: String(repeating: "a", count: 201), output: folder.path("a"))
                ),
                ("--person", .init(format: .jsonl, person: "", output: folder.path("a"))),
                ("--request", .init(format: .jsonl, request: "1 OR 1=1", output: folder.path("a"))),
                ("--capacity", .init(format: .jsonl, capacity: "<script>", output: folder.path("a"))),
                ("--capacity", .init(format: .csv, capacity: "Escalation", output: folder.path("a"))),
                ("--capacity", .init(format: .jsonl, capacity: "deputy' OR 1=1 --", output: folder.path("a"))),
            ]
            for (option, request) in cases {
                let result = await AuditTool.export(request, environment: environment)
                #expect(!result.succeeded)
                #expect(result.standardError.first?.hasPrefix("Kein Export: \(option) „") == true, "\(result)")
                #expect(!FileManager.default.fileExists(atPath: folder.path("a")))
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: folder.url.path) == ["audit.pub"])
        }
    }

    @Test("CSV: quoted, formula cells neutralised, UTF-8 with BOM and ';' on request")
    func csv() async throws {
        try await Folder.with { folder in
            try await ServiceFixture.with { fixture in
                for comment in ["=SUM(A1:A9)", "@cmd", "+49 30", "-2", "Er sagte \"ja\"; dann\nneu", "Jürgen ✓"] {
                    try await fixture.admin.query(
                        """
                        INSERT INTO audit_events (occurred_at, actor, event, comment)
                        VALUES (\(Clock.start), 'jürgen', 'login_failed', \(comment))
                        """, logger: logger)
                }
                let sealer = AuditSealer(client: fixture.app, signer: Self.signer, checkpointFile: nil)
                let size = try await sealer.sealAll(now: Clock.start, logger: logger)
                let result = try await export(
                    fixture, format: .csv, csv: CSVOptions(separator: UInt8(ascii: ";"), byteOrderMark: true),
                    to: folder.path("export.csv"))
                #expect(result.eventCount == size)
                let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: folder.path("export.csv"))))
                #expect(Array(bytes.prefix(3)) == [0xEF, 0xBB, 0xBF])
                let text = String(decoding: bytes.dropFirst(3), as: UTF8.self)
                #expect(text.hasPrefix("sequence;event_id;occurred_at;type;"))
                for expected in [
                    #";"'=SUM(A1:A9)";"#, #";"'@cmd";"#, #";"'+49 30";"#, #";"'-2";"#,
                    ";\"Er sagte \"\"ja\"\"; dann\nneu\";", ";Jürgen ✓;", ";jürgen;",
                ] {
                    #expect(text.contains(expected), "\(expected) in \(text)")
                }
                // The column names, one record per event, the end record (then nothing after the last CRLF).
                #expect(text.components(separatedBy: "\r\n").count == Int(size) + 3)
                #expect(text.contains("\r\nend;\(size);\(size);complete;\""))
            }
        }
        let writer = CSVExportWriter()
        func field(_ text: String) -> [UInt8] {
            var bytes: [UInt8] = []
            writer.appendText(text, to: &bytes)
            return bytes
        }
        #expect(field("=1+2") == Array("\"'=1+2\"".utf8))
        #expect(field("\t=1") == Array("\"'\t=1\"".utf8))
        #expect(field("a,b") == Array("\"a,b\"".utf8))
        #expect(field("plain") == Array("plain".utf8))
    }

    @Test("freigabe audit export and verify --export as an auditor runs them; no checkpoint, no export")
    func commandLine() async throws {
        try await Folder.with { folder in
            try await TestDatabase.with { database in
                var settings = try StoreTestSupport.environment()
                settings["FREIGABE_DB_NAME"] = database.name
                let environment = settings
                try await database.withClients { app, admin in
                    for actor in ["anna", "otto", "dora"] {
                        try await admin.query(
                            "INSERT INTO audit_events (occurred_at, actor, event) VALUES (now(), \(actor), 'login_failed')",
                            logger: logger)
                    }
                    let none = await AuditTool.export(
                        .init(format: .jsonl, output: folder.path("export.jsonl")), environment: environment)
                    #expect(!none.succeeded)
                    #expect(none.standardError.first?.contains("signierten Checkpoint") == true, "\(none)")
                    #expect(!FileManager.default.fileExists(atPath: folder.path("export.jsonl")))

                    let sealer = AuditSealer(
                        client: app, signer: Self.signer, checkpointFile: folder.path("checkpoints.txt"))
                    _ = try await sealer.sealAll(now: Date(), logger: logger)
                    let exported = await AuditTool.export(
                        .init(format: .jsonl, output: folder.path("export.jsonl")), environment: environment)
                    #expect(exported.succeeded, "\(exported)")
                    #expect(exported.standardOutput.first?.hasPrefix("3 Ereignisse exportiert") == true)
                    let filtered = await AuditTool.export(
                        .init(format: .jsonl, person: "otto", output: folder.path("otto.jsonl")),
                        environment: environment)
                    #expect(filtered.standardOutput.first?.hasPrefix("1 Ereignisse exportiert") == true, "\(filtered)")
                    for file in ["export.jsonl", "otto.jsonl"] {
                        let verified = AuditTool.verifyExport(
                            exportFile: folder.path(file), checkpointFile: folder.path("checkpoints.txt"),
                            publicKeyFile: folder.path("audit.pub"))
                        #expect(verified.succeeded, "\(file): \(verified)")
                    }
                }
            }
        }
    }
}
