import Foundation
import LDAPDirectory
import Logging
import PostgresNIO
import SMTPClient
import Synchronization
import Testing
import WorkflowEngine

@testable import FreigabeServer

@Suite("Store parts: SQL splitting, settings, command line, outbox payloads, resubmission")
struct StorePartsTests {
    let logger = StoreTestSupport.logger

    @Test("migrations split into statements exactly where a semicolon ends one")
    func splitting() {
        let sql = """
            CREATE TABLE a (t text DEFAULT ';');  -- a comment; with a semicolon
            /* block; /* nested; */ still comment; */
            INSERT INTO a VALUES ('it''s; fine'), (E'back\\'slash;'), ("quoted;ident");
            CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $body$
            BEGIN RAISE EXCEPTION 'no; %', $1; END;
            $body$;
            SELECT $$;$$;
            -- only a comment at the end;
            """
        let statements = SQLStatements.split(sql)
        // The trailing comment is no statement of its own.
        #expect(statements.count == 4)
        #expect(statements[0] == "CREATE TABLE a (t text DEFAULT ';')")
        #expect(statements[1].hasSuffix(#"(E'back\'slash;'), ("quoted;ident")"#))
        #expect(statements[2].hasSuffix("END;\n$body$"))
        #expect(statements[3] == "SELECT $$;$$")
        #expect(
            SQLStatements.split(Migrations.auditLog.sql).contains {
                $0.hasPrefix("CREATE FUNCTION") && $0.hasSuffix("$$")
            })
    }

    @Test("database settings from the environment, with German messages for bad values")
    func settings() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("settings-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let passwordFile = directory.appendingPathComponent("pw").path
        _ = FileManager.default.createFile(atPath: passwordFile, contents: Data("geheim\n".utf8))
        let settings = try DatabaseSettings(environment: [
            "FREIGABE_DB_HOST": "db.stadt.example", "FREIGABE_DB_PORT": "6432", "FREIGABE_DB_NAME": "fg",
            "FREIGABE_DB_USER": "app", "FREIGABE_DB_PASSWORD_FILE": passwordFile, "FREIGABE_DB_ADMIN_USER": "owner",
            "FREIGABE_DB_TLS": "verify_full", "FREIGABE_DB_MAX_CONNECTIONS": "8",
        ])
        #expect(settings.host == "db.stadt.example")
        #expect(settings.port == 6432)
        #expect(settings.password == "geheim")
        #expect(settings.tls == .verifyFull)
        #expect(settings.maxConnections == 8)
        let configuration = try settings.clientConfiguration(admin: true)
        #expect(configuration.username == "owner")
        #expect(configuration.options.maximumConnections == 8)
        #expect(throws: DatabaseSettings.SettingsError.self) {
            try DatabaseSettings(environment: ["FREIGABE_DB_TLS": "maybe"])
        }
        #expect(throws: DatabaseSettings.SettingsError.self) {
            try DatabaseSettings(environment: [
                "FREIGABE_DB_PASSWORD_FILE": directory.appendingPathComponent("none").path
            ])
        }
        #expect(throws: DatabaseSettings.SettingsError.self) { try DatabaseSettings().clientConfiguration(admin: true) }
        // Another machine without a checked certificate is warned about at start; this one is not.
        #expect(settings.networkPathRisk == nil)
        // A CA file is read when the settings are (`make services` made this one).
        let caFile = try #require(TestSupport.localServicesEnvironment()["FREIGABE_TEST_TLS_DIR"]) + "/ca.pem"
        for (host, tls, ca, warned) in [
            ("db.stadt.example", "prefer", nil, true), ("db.stadt.example", "disable", nil, true),
            ("db.stadt.example", "require", nil, true), ("db.stadt.example", "require", caFile, false),
            ("127.0.0.1", "prefer", nil, false), ("localhost", "disable", nil, false),
            ("127.0.0.1.nip.io", "prefer", nil, true), ("[::1]", "prefer", nil, false),
            ("127.0.0.08", "prefer", nil, true), ("127.0.0.0", "prefer", nil, false),
        ] as [(String, String, String?, Bool)] {
            var environment = ["FREIGABE_DB_HOST": host, "FREIGABE_DB_TLS": tls]
            environment["FREIGABE_DB_TLS_CA_FILE"] = ca
            let risk = try DatabaseSettings(environment: environment).networkPathRisk
            #expect((risk != nil) == warned, "\(host) \(tls) \(ca ?? "-"): \(risk ?? "nil")")
        }
        // An application role the grants could not name is refused with the variable, not at the migration.
        for user in ["Freigabe_App", "freigabe app", "app;drop", String(repeating: "a", count: 64)] {
            let error = #expect(throws: DatabaseSettings.SettingsError.self, "\(user)") {
                try DatabaseSettings(environment: ["FREIGABE_DB_USER": user])
            }
            #expect(error?.variable == "FREIGABE_DB_USER")
        }
        // The server never runs as the tables' owner.
        for (user, admin) in [("freigabe", "freigabe"), ("freigabe", "Freigabe")] {
            #expect(throws: DatabaseSettings.SettingsError.self, "\(user)/\(admin)") {
                try DatabaseSettings(environment: ["FREIGABE_DB_USER": user, "FREIGABE_DB_ADMIN_USER": admin])
            }
        }
    }

    @Test("roles the shipped workflows ask for that no directory group grants are named at start")
    func rolesWithoutGroups() throws {
        let workflows = StoreTestSupport.workflows
        let everyRole = Dictionary(uniqueKeysWithValues: DirectoryRole.allCases.map { ($0, ["cn=\($0.rawValue)"]) })
        #expect(workflows.rolesWithoutGroups(everyRole).isEmpty)
        var withoutISB = everyRole
        withoutISB[.isb] = nil
        withoutISB[.auditor] = []
        withoutISB[.admin] = nil
        // The auditors and administrators are no workflow's: only the ISB is missing for the workflows.
        #expect(workflows.rolesWithoutGroups(withoutISB) == [.isb])
        #expect(workflows.rolesWithoutGroups([:]) == [.dsb, .isb, .openDataOfficer, .governance])
    }

    @Test("freigabe migrate and freigabe catalog import, as the command line runs them")
    func commandLine() async throws {
        try await TestDatabase.with(migrated: false) { database in
            var environment = try StoreTestSupport.environment()
            environment["FREIGABE_DB_NAME"] = database.name
            let lines = Mutex<[String]>([])
            let output: @Sendable (String) -> Void = { line in lines.withLock { $0.append(line) } }
            #expect(await StoreCommandLine.migrate(environment: environment, output: output, errorOutput: output) == 0)
            #expect(
                lines.withLock { $0 } == [
                    "applied migration 1 catalogue", "applied migration 2 requests", "applied migration 3 audit_log",
                    "applied migration 4 timer_retries", "applied migration 5 outbox_delivery",
                    "applied migration 6 audit_seals", "applied migration 7 web_sessions",
                    "applied migration 8 webhook_delivery", "applied migration 9 decision_links",
                    "applied migration 10 audit_redaction", "applied migration 11 expiry_notices",
                    "applied migration 12 pending_timers_by_request", "applied migration 13 audit_escalation",
                    "applied migration 14 deputyships_in_force", "applied migration 15 audit_time_order",
                    "applied migration 16 handovers", "applied migration 17 abandoned_request_erasure",
                    "applied migration 18 erasure_clock", "applied migration 19 draft_recipient_name",
                    "applied migration 20 webhook_pause", "applied migration 22 draft_recipient_type",
                    "applied migration 23 audit_person_case", "applied migration 24 decision_link_round",
                    "applied migration 25 outbox_delivery_key", "applied migration 26 decisions_discontinued",
                    "applied migration 27 erasure_of_later_texts", "applied migration 28 outside_copies",
                    "applied migration 29 unused_indexes", "applied migration 30 audit_event_types",
                    "applied migration 31 webhook_replaced_addresses",
                    "applied migration 32 webhook_subscription_filters",
                    "granted privileges to \(database.settings.user)",
                ])
            lines.withLock { $0 = [] }
            // Checked against the directory: every owner and group of the demo catalogue is there.
            let code = await StoreCommandLine.importCatalog(
                path: StoreTestSupport.demoCatalog, actor: "adam", dryRun: false, environment: environment,
                directory: try DemoDirectory.configuration(), now: Clock.start, output: output, errorOutput: output)
            #expect(code == 0)
            #expect(
                lines.withLock { $0.last }
                    == "3 domains created, 0 updated, 0 unchanged; 11 datasets created, 0 updated, 0 unchanged")
            #expect(lines.withLock { $0.count } == 15, "a line per entry and the sum, no notice")
            lines.withLock { $0 = [] }
            let again = await StoreCommandLine.importCatalog(
                path: StoreTestSupport.demoCatalog, actor: "adam", dryRun: false, environment: environment,
                directory: nil, now: Clock.start, output: output, errorOutput: output)
            #expect(again == 0)
            #expect(
                lines.withLock { $0 } == [
                    "Hinweis: kein Verzeichnis eingerichtet (ldap.url): Eigentümer und Gruppen sind nicht gegen "
                        + "das Verzeichnis geprüft.",
                    "0 domains created, 0 updated, 3 unchanged; 0 datasets created, 0 updated, 11 unchanged",
                ])
            // The import keeps the configured transaction deadline (here far too short: it fails).
            var hurried = environment
            hurried["FREIGABE_DB_TRANSACTION_TIMEOUT_SECONDS"] = "0.001"
            let tooSlow = await StoreCommandLine.importCatalog(
                path: StoreTestSupport.demoCatalog, actor: "adam", dryRun: false, environment: hurried,
                directory: nil, now: Clock.start, output: output, errorOutput: output)
            #expect(tooSlow == 1)
            // A broken file: every problem in German with its line, exit code 1, nothing written.
            let broken = FileManager.default.temporaryDirectory.appendingPathComponent("katalog-\(UUID()).csv")
            try
                "id,title,domain,owner,classification,personal_data,protection_need\nneu,Neu,umwelt,otto,geheim,none,normal\n"
                .write(to: broken, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: broken) }
            lines.withLock { $0 = [] }
            var withTemplates = environment
            withTemplates["FREIGABE_TEMPLATES_DIR"] = TestSupport.templatesDirectory
            let refused = await StoreCommandLine.importCatalog(
                path: broken.path, actor: "adam", dryRun: false, environment: withTemplates,
                directory: try DemoDirectory.configuration(), now: Clock.start, output: output, errorOutput: output)
            #expect(refused == 1)
            #expect(
                lines.withLock { $0 } == [
                    "\(broken.path):2: Datensatz „neu“, Feld „classification“: „geheim“ ist kein erlaubter Wert; "
                        + "erlaubt sind: public, internal, confidential, strictly_confidential."
                ])
            // Hostile to the directory: a mistyped owner, a group nobody holds, a person's DN as a group.
            // Every problem with its line, exit code 1, nothing written (the domain is not there).
            let misnamed = FileManager.default.temporaryDirectory.appendingPathComponent("katalog-\(UUID()).yaml")
            try """
            domains:
              - id: kultur
                title: Kultur
                steward_group: cn=stewards-kultur,ou=groups,dc=stadt,dc=example
            datasets:
              - id: spielplaene
                title: Spielpläne
                domain: umwelt
                owner: ottto
                classification: public
                personal_data: none
                protection_need: normal
              - id: baustellen
                title: Baustellen
                domain: umwelt
                owner_group: uid=otto,ou=people,dc=stadt,dc=example
                classification: public
                personal_data: none
                protection_need: normal
            """.write(to: misnamed, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: misnamed) }
            lines.withLock { $0 = [] }
            let misnamedCode = await StoreCommandLine.importCatalog(
                path: misnamed.path, actor: "adam", dryRun: true, environment: withTemplates,
                directory: try DemoDirectory.configuration(), now: Clock.start, output: output, errorOutput: output)
            #expect(misnamedCode == 1)
            let noGroup: String = "Im Verzeichnis gibt es keine Gruppe"
            let checkDN: String = "Bitte prüfen Sie den DN: sonst warten die Schritte dieser Gruppe auf niemanden."
            let noPerson: String = "Im Verzeichnis gibt es keine eindeutige Person mit der Kennung „ottto“."
            let checkUID: String =
                "Bitte prüfen Sie die Schreibweise: sonst warten die Anträge zu diesem Datensatz auf niemanden."
            let stewards: String = "„cn=stewards-kultur,ou=groups,dc=stadt,dc=example“."
            let person: String = "„uid=otto,ou=people,dc=stadt,dc=example“."
            let expected: [String] = [
                "\(misnamed.path):2: Domäne „kultur“, Feld „steward_group“: \(noGroup) \(stewards) \(checkDN)",
                "\(misnamed.path):6: Datensatz „spielplaene“, Feld „owner“: \(noPerson) \(checkUID)",
                "\(misnamed.path):13: Datensatz „baustellen“, Feld „owner_group“: \(noGroup) \(person) \(checkDN)",
            ]
            #expect(lines.withLock { $0 } == expected)
            let domains = try await database.withClients { app, _ in
                try await CatalogRepository(client: app).domains(logger: StoreTestSupport.logger).map(\.id)
            }
            #expect(!domains.contains("kultur"))
            // An unreachable directory imports nothing either, and says it was the directory.
            var unreachable = try DemoDirectory.configuration()
            unreachable.url = "ldap://127.0.0.1:1"
            lines.withLock { $0 = [] }
            let unanswered = await StoreCommandLine.importCatalog(
                path: StoreTestSupport.demoCatalog, actor: "adam", dryRun: false, environment: environment,
                directory: unreachable, now: Clock.start, output: output, errorOutput: output)
            #expect(unanswered == 1)
            #expect(lines.withLock { $0.count == 1 && $0[0].hasPrefix("Nichts importiert: das Verzeichnis") })
            var noAdmin = environment
            noAdmin["FREIGABE_DB_ADMIN_USER"] = ""
            #expect(await StoreCommandLine.migrate(environment: noAdmin, output: output, errorOutput: output) == 78)
        }
    }

    /// A wrong setting the operator must fix stops the start as misconfigured (exit 78) before it migrates
    /// anything, whichever part reads it: the operator fixes it and starts again on an untouched database.
    enum StartMisconfiguration: String, CaseIterable, Sendable {
        case openAPIFile = "api.openapi_file"
        case auditKeyFile = "audit.key_file"
        case mailTemplate = "templates.dir"
    }

    @Test(
        "a wrong setting stops the start as a configuration error, before any migration",
        arguments: StartMisconfiguration.allCases)
    func misconfigurationStopsBeforeMigrating(_ mistake: StartMisconfiguration) async throws {
        try await TestDatabase.with(migrated: false) { database in
            var environment = try StoreTestSupport.environment()
            environment["FREIGABE_DB_NAME"] = database.name
            var configuration = try await DirectoryFixtures.configuration()
            configuration.database = try DatabaseSettings(environment: environment)
            configuration.migrateOnStart = true
            let templates = FileManager.default.temporaryDirectory.appendingPathComponent("templates-\(UUID())")
            defer { try? FileManager.default.removeItem(at: templates) }
            switch mistake {
            case .openAPIFile:
                configuration.openAPIFile = "/nonexistent/openapi.yaml"
            case .auditKeyFile:
                configuration.audit.keyFile = "/nonexistent/audit.key"
            case .mailTemplate:
                try FileManager.default.copyItem(atPath: TestSupport.templatesDirectory, toPath: templates.path)
                try FileManager.default.removeItem(at: templates.appendingPathComponent("email/granted-html.mustache"))
                configuration.templatesDirectory = templates.path
                configuration.mail = MailSettings(
                    smtp: SMTPConfiguration(host: "127.0.0.1", port: 2525, security: .plaintext),
                    from: Mailbox(try EmailAddress("freigabe@stadt.example")), hostName: "freigabe.stadt.example")
            }
            let error = await #expect(throws: ConfigurationError.self) {
                _ = try await buildApplication(configuration: configuration)
            }
            #expect(error?.key == mistake.rawValue)
            let tables = try await database.withClients { _, admin in
                try await admin.query(
                    "SELECT count(*)::int FROM pg_tables WHERE schemaname = 'public'", logger: StoreTestSupport.logger
                ).decode(Int.self).first(where: { _ in true })
            }
            #expect(tables == 0, "nothing migrated")
        }
    }

    /// `freigabe migrate --config freigabe.yaml` and the other tools reach the database `serve` uses
    /// with that file: its `db.*` keys, a set variable first.
    @Test("the command-line tools read db.* from the configuration file; a set variable wins")
    func toolsReadTheConfigurationFile() async throws {
        try await TestDatabase.with { database in
            let local = try StoreTestSupport.environment()
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("freigabe-\(UUID()).yaml")
            try """
            db:
              host: "\(local["FREIGABE_DB_HOST"] ?? "127.0.0.1")"
              port: \(local["FREIGABE_DB_PORT"] ?? "5432")
              name: "\(database.name)"
              user: "\(local["FREIGABE_DB_USER"] ?? "")"
              password: "\(local["FREIGABE_DB_PASSWORD"] ?? "")"
              tls: "\(local["FREIGABE_DB_TLS"] ?? "prefer")"
            """.write(to: file, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: file) }
            let effective = try await ToolEnvironment.effective(config: file.path, environment: [:])
            #expect(effective["FREIGABE_DB_NAME"] == database.name)
            let listed = await TimerTool.list(failing: false, environment: effective)
            #expect(listed.succeeded, "\(listed.standardError)")
            #expect(listed.standardOutput.first == "pending\t0")
            let overridden = try await ToolEnvironment.effective(
                config: file.path, environment: ["FREIGABE_DB_NAME": "aus_der_umgebung"])
            #expect(overridden["FREIGABE_DB_NAME"] == "aus_der_umgebung")
            #expect(overridden["FREIGABE_DB_USER"] == local["FREIGABE_DB_USER"])
        }
    }

    /// The operator at 3 a.m. reads why the tool could not reach the database: PostgreSQL's refusal of
    /// the password, or the refused connection and where it went, not a catalogue key.
    @Test("a command-line tool that cannot reach the database names the cause and the place")
    func toolNamesTheCause() async throws {
        try await TestDatabase.with { database in
            var environment = try StoreTestSupport.environment()
            environment["FREIGABE_DB_NAME"] = database.name
            environment["FREIGABE_DB_POOL_WAIT_TIMEOUT_SECONDS"] = "1"
            var wrongPassword = environment
            wrongPassword["FREIGABE_DB_PASSWORD"] = "falsch"
            let refused = await TimerTool.list(failing: false, environment: wrongPassword)
            #expect(!refused.succeeded)
            let text = refused.standardError.joined(separator: "\n")
            #expect(text.hasPrefix("Timer konnten nicht gelesen werden: Datenbank nicht erreichbar ("), "\(text)")
            #expect(text.contains("password authentication failed") && text.contains("28P01"), "\(text)")
            #expect(text.contains("Datenbank \(database.name)") && !text.contains("falsch"), "\(text)")
            var closed = environment
            closed["FREIGABE_DB_PORT"] = String(try await closedPort())
            let away = await TimerTool.list(failing: false, environment: closed)
            let words = away.standardError.joined(separator: "\n")
            #expect(!away.succeeded && words.contains("refused"), "\(words)")
            #expect(!words.contains("general.database_unavailable"), "\(words)")
        }
    }

    @Test("the recurring statements' text depends on their shape only, so they run prepared")
    func recurringStatementsArePrepared() throws {
        let start = Clock.start
        var write = CommandWrite(
            requestID: UUID(), expectedVersion: 7,
            request: RequestColumns(
                details: RequestDetails(purpose: "Planung", legalBasis: "Art. 6"),
                derived: RequestRecord.Derived(state: "in_review", phase: .inReview, pendingRoles: ["dsb"]),
                snapshot: #"{"x":1}"#, pin: WorkflowPin(id: "shared-data", version: 3, contentHash: "sha256:ab"),
                submittedAt: start),
            holders: StepHolders(owner: "otto", ownerGroupKey: nil, stewardGroupKey: "cn=stewards"), now: start)
        write.timers = [TimerRow(kind: .reminder, step: "dsb_review", dueAt: start)]
        write.cancelledSteps = ["owner_review"]
        write.audit = [AuditRow(occurredAt: start, actor: "otto", event: .approved, comment: "ok")]
        #expect(try write.query().sql == CommandWrite.RowWrite.sql)
        write.request = nil
        #expect(try write.query().sql == CommandWrite.EffectsWrite.sql)
        #expect(CommandWrite.RowWrite.sql != CommandWrite.EffectsWrite.sql)
        #expect(CommandWrite.RowWrite.sql.contains("UPDATE requests"))
        let read = try CommandSubject.statement(id: UUID(), deputy: "paul", now: start)
        #expect(read.sql == CommandSubject.Read.sql && !read.sql.isEmpty)
    }

    @Test("outbox payloads name the recipients the dispatcher must resolve")
    func outboxPayloads() async throws {
        try await ServiceFixture.with { fixture in
            let request = try await fixture.shared("baumkataster")
            let rows = try await fixture.admin.query(
                "SELECT payload::text FROM outbox WHERE request_id = \(request.id) AND kind = 'mail' ORDER BY id",
                logger: logger)
            var messages: [OutboxMessage] = []
            for try await text in rows.decode(String.self) {
                messages.append(try OutboxMessage.decode(fromStoredJSON: text))
            }
            #expect(messages.map(\.topic) == [.submitted, .requestDecision])
            #expect(messages[0].recipients == [OutboxRecipient(role: "requester", uid: "anna", group: nil)])
            #expect(messages[1].recipients == [OutboxRecipient(role: "data_owner", uid: "otto", group: nil)])
            #expect(messages[1].step == "owner_review")
            #expect(messages[1].deadline == request.status.deadline)
            #expect(messages[1].requestNumber == request.number)
            _ = try await fixture.decide(request, by: People.otto, at: Clock.days(1))
            let steward = try await fixture.admin.query(
                "SELECT payload::text FROM outbox WHERE request_id = \(request.id) AND kind = 'mail' ORDER BY id DESC LIMIT 1",
                logger: logger)
            for try await text in steward.decode(String.self) {
                let message = try OutboxMessage.decode(fromStoredJSON: text)
                #expect(
                    message.recipients == [
                        OutboxRecipient(
                            role: "data_steward", uid: nil, group: "cn=stewards-umwelt,ou=groups,dc=stadt,dc=example",
                            domain: "umwelt")
                    ])
            }
        }
    }

    @Test("a resubmission that changes the facts restarts the workflow and re-routes it")
    func resubmissionChangingFacts() async throws {
        try await ServiceFixture.with { fixture in
            // Lärmkartierung is internal: for an internal recipient no ISB step applies.
            let created = try await fixture.shared("laermkartierung")
            #expect(created.timeline.map(\.status) == [.current, .pending, .skipped, .skipped])
            let owner = try await fixture.decide(created, by: People.otto, at: Clock.days(1))
            let asked = try await fixture.decide(
                owner, by: People.stefan, .requestChanges(question: "Wer genau bekommt die Daten?"), at: Clock.days(2))
            #expect(asked.status.step == "steward_review")
            let answered = try await fixture.service.resubmit(
                requestID: created.id,
                changes: Resubmission(
                    comment: "Ein externes Planungsbüro",
                    changes: RequestDetails.Patch(
                        values: RequestDetails(
                            recipient: RecipientInput(name: "Planungsbüro Lärm GmbH", type: .external)),
                        given: [.recipient])),
                caller: People.anna, now: Clock.days(3), logger: logger)
            // Internal data to an external recipient needs the ISB, and every step decides again.
            #expect(answered.status.step == "owner_review")
            #expect(answered.timeline.map(\.status) == [.current, .pending, .skipped, .pending])
            #expect(answered.recipient?.type == .external)
            // In JSON the details stand flat beside the other fields, as in the body that created the
            // request, and the view reads back whole (an idempotent replay decodes what was stored).
            let object = try JSONSerialization.jsonObject(with: APIJSON.encoder().encode(answered)) as? [String: Any]
            #expect(object?["details"] == nil)
            #expect((object?["recipient"] as? [String: Any])?["type"] as? String == "external")
            #expect(object?["purpose"] as? String == answered.details.purpose)
            #expect(try StoredJSON.decode(RequestView.self, from: StoredJSON.encode(answered)) == answered)
            // Resubmitting needs an open question, and only the requester answers.
            await expectServiceError(.invalidState) {
                try await fixture.service.resubmit(
                    requestID: created.id, changes: Resubmission(), caller: People.anna, now: Clock.days(3),
                    logger: logger)
            }
        }
    }

    /// The steward asks; the requester answers and changes only the purpose. The owner approved another
    /// purpose, so the owner decides again; an answer that changes nothing goes back to the steward.
    @Test("a resubmission that changes a detail starts again at the first step; an answer alone does not")
    func resubmissionChangingDetails() async throws {
        try await ServiceFixture.with { fixture in
            for changesPurpose in [true, false] {
                let created = try await fixture.shared("laermkartierung")
                let owner = try await fixture.decide(created, by: People.otto, at: Clock.days(1))
                let asked = try await fixture.decide(
                    owner, by: People.stefan, .requestChanges(question: "Wofür genau?"), at: Clock.days(2))
                #expect(asked.status.step == "steward_review")
                let answered = try await fixture.service.resubmit(
                    requestID: created.id,
                    changes: Resubmission(
                        comment: "Für die Lärmaktionsplanung",
                        changes: changesPurpose
                            ? RequestDetails.Patch(
                                values: RequestDetails(purpose: "Direktwerbung für Lärmschutzfenster"),
                                given: [.purpose])
                            : RequestDetails.Patch(
                                values: RequestDetails(purpose: created.details.purpose), given: [.purpose])),
                    caller: People.anna, now: Clock.days(3), logger: logger)
                #expect(
                    answered.status.step == (changesPurpose ? "owner_review" : "steward_review"),
                    "purpose changed: \(changesPurpose)")
            }
        }
    }

    @Test("timers made moot by a decision are marked, not fired")
    func mootTimers() async throws {
        try await ServiceFixture.with { fixture in
            let request = try await fixture.shared("baumkataster")
            _ = try await fixture.decide(request, by: People.otto, at: Clock.days(1))
            // The owner step's reminder and escalation were cancelled; the steward step's are pending.
            let rows = try await fixture.admin.query(
                """
                SELECT kind, step, cancelled_at IS NOT NULL FROM timers WHERE request_id = \(request.id)
                ORDER BY id
                """, logger: logger)
            var timers: [String] = []
            for try await (kind, step, cancelled) in rows.decode((String, String?, Bool).self) {
                timers.append("\(kind) \(step ?? "-") \(cancelled ? "cancelled" : "pending")")
            }
            #expect(
                timers == [
                    "reminder owner_review cancelled", "escalation owner_review cancelled",
                    "reminder steward_review pending", "escalation steward_review pending",
                ])
        }
    }
}
