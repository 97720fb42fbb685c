import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing
import WorkflowEngine

@testable import FreigabeServer

/// Paths and settings for the store tests. The tests need the real PostgreSQL of `scripts/services up`
/// and FAIL (never skip) when its settings are missing.
enum StoreTestSupport {
    /// The repository root, found from this file's real path (the scratch package links the folder).
    static let repositoryRoot: URL = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static let workflowsDirectory = repositoryRoot.appendingPathComponent("Workflows").path
    static let demoCatalog = repositoryRoot.appendingPathComponent("scripts/demo/catalog.yaml").path

    /// `FREIGABE_DB_*` from the process environment, else from `.local/env`.
    static func environment() throws -> [String: String] {
        let values = TestSupport.localServicesEnvironment().filter { $0.key.hasPrefix("FREIGABE_DB_") }
        guard values["FREIGABE_DB_PORT"] != nil, values["FREIGABE_DB_ADMIN_USER"] != nil,
            values["FREIGABE_DB_USER"] != nil
        else {
            throw TestSetupError(
                "PostgreSQL is not configured: run `scripts/services up` (writes .local/env) or set FREIGABE_DB_*")
        }
        return values
    }

    static let logger: Logger = {
        var logger = Logger(label: "freigabe.store.tests")
        logger.logLevel = .warning
        return logger
    }()

    static let workflows: WorkflowLibrary = {
        do {
            return try WorkflowLoader.load(directory: workflowsDirectory)
        } catch {
            fatalError("shipped workflows do not load: \(error)")
        }
    }()

    /// The workflows an administrator would deploy: the shipped files `keeping` accepts, plus `written`
    /// (file name → text), loaded as the server loads its folder (from a temporary copy, removed after).
    static func workflows(
        keeping: (String) -> Bool = { _ in true }, written: [String: String] = [:]
    ) throws -> WorkflowLibrary {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("workflows-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        for file in try FileManager.default.contentsOfDirectory(atPath: workflowsDirectory)
        where file.hasSuffix(".yaml") && keeping(file) {
            try FileManager.default.copyItem(
                atPath: workflowsDirectory + "/" + file, toPath: folder.appendingPathComponent(file).path)
        }
        for (file, text) in written {
            try text.write(to: folder.appendingPathComponent(file), atomically: true, encoding: .utf8)
        }
        return try WorkflowLoader.load(directory: folder.path)
    }

    /// The shipped workflows, but Shared Data (as version 2) starts with one step of three parallel
    /// branches, `owner_part` (Data Owner), `steward_part` (Data Steward) and `privacy_part` (DSB),
    /// escalated to the governance office: two open branches the escalation instance may decide in
    /// place, and one of an independent controller it may not. No shipped workflow has two such
    /// branches in one step.
    static let jointReview: WorkflowLibrary = {
        do {
            let shipped = try String(contentsOfFile: workflowsDirectory + "/shared-data.yaml", encoding: .utf8)
            guard let first = shipped.range(of: "  - id: owner_review"),
                let rest = shipped.range(of: "  - id: privacy_review")
            else { fatalError("shared-data.yaml changed its steps") }
            let joint = """
                  - id: joint_review
                    title:
                      de: Gemeinsame Prüfung
                      en: Joint review
                    deadline: { working_days: 5, remind_before: 2, escalate_to: governance }
                    parallel:
                      - id: owner_part
                        title:
                          de: Teil des Data Owners
                          en: Data Owner's part
                        role: data_owner
                      - id: steward_part
                        title:
                          de: Teil des Data Stewardship
                          en: Data Steward's part
                        role: data_steward
                      - id: privacy_part
                        title:
                          de: Teil des DSB
                          en: DPO's part
                        role: dsb
                    on: { approve: privacy_review, reject: rejected }


                """
            let text = (shipped[..<first.lowerBound] + joint + shipped[rest.lowerBound...])
                .replacingOccurrences(of: "version: 1\n", with: "version: 2\n")
                .replacingOccurrences(of: "start: owner_review\n", with: "start: joint_review\n")
            return try workflows(keeping: { $0 != "shared-data.yaml" }, written: ["shared-data.yaml": text])
        } catch {
            fatalError("the joint review workflow does not load: \(error)")
        }
    }()

    /// Europe/Berlin, Hessen, with the closed days of the server's default configuration.
    static let calendar = WorkingDayCalendar(state: .hessen, closedDays: AppConfiguration().closedDays)

    /// The German strings catalogue, to compare messages as people read them.
    static let german: StringCatalog = {
        let path = repositoryRoot.appendingPathComponent("Templates/strings/de.yaml").path
        do {
            return try StringCatalog(
                language: "de", yaml: try String(contentsOfFile: path, encoding: .utf8), fileName: path)
        } catch {
            fatalError("Templates/strings/de.yaml does not load: \(error)")
        }
    }()
}

/// Lets a few tests hold a database at a time. Swift Testing starts every test of the process at once;
/// on the 2-core CI machine some 250 tests then created their databases, connected with TLS, imported the
/// catalogue and raced the production deadlines (3 s to connect, 3 s to wait for the pool) all in the
/// same second, and now and then a fixture's first transaction missed its deadline (`unavailable` after
/// 44 s of a 59-s run). The deadlines stay what production uses; what a test should not have is a
/// machine loaded fifty-fold by its neighbours. Tests that measure a deadline take every place
/// (``RunsAlone``). `FREIGABE_TEST_DATABASES` overrides the limit.
final class TestDatabaseGate: Sendable {
    static let shared = TestDatabaseGate(
        limit: ProcessInfo.processInfo.environment["FREIGABE_TEST_DATABASES"].flatMap { Int($0) }
            ?? max(6, 4 * ProcessInfo.processInfo.activeProcessorCount))

    /// Set while a task holds places, so that a test opening a second database inside the first does not
    /// wait for a place it already holds (which could deadlock once every place is held by such tests).
    @TaskLocal static var holdsPlace = false

    private struct Waiter {
        var places: Int
        var continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        var free: Int
        /// First come, first served: a test waiting for every place is not overtaken for ever.
        var waiting: [Waiter] = []

        mutating func admitWaiters() -> [CheckedContinuation<Void, Never>] {
            var admitted: [CheckedContinuation<Void, Never>] = []
            while let first = waiting.first, first.places <= free {
                free -= first.places
                admitted.append(waiting.removeFirst().continuation)
            }
            return admitted
        }
    }

    let limit: Int
    private let state: Mutex<State>

    init(limit: Int) {
        self.limit = max(1, limit)
        state = Mutex(State(free: self.limit))
    }

    /// Runs `body` holding one place.
    func admitted<Result: Sendable>(_ body: () async throws -> Result) async throws -> Result {
        try await holding(1, body)
    }

    /// Runs `body` holding every place: no other test works with a database meanwhile.
    func alone<Result: Sendable>(_ body: () async throws -> Result) async throws -> Result {
        try await holding(limit, body)
    }

    private func holding<Result: Sendable>(_ places: Int, _ body: () async throws -> Result) async throws -> Result {
        if Self.holdsPlace { return try await body() }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let admitted = state.withLock { state in
                state.waiting.append(Waiter(places: places, continuation: continuation))
                return state.admitWaiters()
            }
            for waiter in admitted { waiter.resume() }
        }
        defer {
            let admitted = state.withLock { state in
                state.free += places
                return state.admitWaiters()
            }
            for waiter in admitted { waiter.resume() }
        }
        return try await Self.$holdsPlace.withValue(true) { try await body() }
    }
}

/// For a test that measures a deadline: it runs while no other test works with a database, so that what
/// it measures is the deadline, not the CPU its neighbours took.
struct RunsAlone: TestTrait, TestScoping {
    func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        try await TestDatabaseGate.shared.alone { try await function() }
    }
}

extension Trait where Self == RunsAlone {
    /// See ``RunsAlone``.
    static var runsAlone: RunsAlone { RunsAlone() }
}

struct TestSetupError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A database of its own for one test, created from a migrated template (as SwiftPackageIndex-Server
/// does): the template is built once per content of the migrations, guarded by an advisory lock so that
/// several test processes can start at once, and every test gets `CREATE DATABASE ... TEMPLATE`.
struct TestDatabase: Sendable {
    let name: String
    let settings: DatabaseSettings

    static let templateName = "freigabe_test_template"

    /// Runs `body` with a fresh, migrated database; drops it afterwards.
    static func with<Result: Sendable>(
        migrated: Bool = true, _ body: @Sendable (TestDatabase) async throws -> Result
    ) async throws -> Result {
        try await TestDatabaseGate.shared.admitted { try await withAdmission(migrated: migrated, body) }
    }

    private static func withAdmission<Result: Sendable>(
        migrated: Bool, _ body: @Sendable (TestDatabase) async throws -> Result
    ) async throws -> Result {
        let environment = try StoreTestSupport.environment()
        let base = try DatabaseSettings(environment: environment)
        let name = "freigabe_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        try await readable { try await create(name, base: base, migrated: migrated) }
        var settings = base
        settings.database = name
        let database = TestDatabase(name: name, settings: settings)
        do {
            let result = try await readable { try await body(database) }
            try await readable { try await drop(name, base: base) }
            return result
        } catch {
            try? await drop(name, base: base)
            throw error
        }
    }

    /// PSQLError hides its details in `description`, and ServiceError keeps them for the log; a failed
    /// test needs them (which deadline passed, which statement failed).
    private static func readable<Result>(_ body: () async throws -> Result) async throws -> Result {
        do {
            return try await body()
        } catch let error as PSQLError {
            throw TestSetupError(String(reflecting: error))
        } catch let error as ServiceError {
            throw TestSetupError(String(reflecting: error))
        }
    }

    private static func create(_ name: String, base: DatabaseSettings, migrated: Bool) async throws {
        try await adminOnMain(base) { client in
            try await withTemplateLock(client) { connection in
                if migrated {
                    try await ensureTemplate(base: base, connection: connection)
                    try await connection.query(
                        "CREATE DATABASE \(unescaped: name) TEMPLATE \(unescaped: templateName)",
                        logger: StoreTestSupport.logger)
                } else {
                    try await connection.query(
                        "CREATE DATABASE \(unescaped: name) TEMPLATE template0", logger: StoreTestSupport.logger)
                }
            }
        }
    }

    private static func drop(_ name: String, base: DatabaseSettings) async throws {
        _ = try await adminOnMain(base) { client in
            // The application role's connections close asynchronously after its client stopped, and the
            // admin role may not terminate them (WITH FORCE), so wait until they are gone, and after a
            // while let the application role end its own leftovers (a role may signal its own backends).
            for attempt in 0..<100 {
                let rows = try await client.query(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = \(name) AND pid <> pg_backend_pid()",
                    logger: StoreTestSupport.logger)
                if try await rows.decode(Int.self).first(where: { _ in true }) == 0 { break }
                if attempt == 20 { try await terminateAppConnections(to: name, base: base) }
                try await Task.sleep(for: .milliseconds(50))
            }
            try await client.query(
                "DROP DATABASE IF EXISTS \(unescaped: name) WITH (FORCE)", logger: StoreTestSupport.logger)
        }
    }

    private static func terminateAppConnections(to name: String, base: DatabaseSettings) async throws {
        var configuration = try base.clientConfiguration()
        configuration.options.maximumConnections = 1
        _ = try await Database.withClient(configuration, logger: StoreTestSupport.logger) { client in
            try await client.query(
                """
                SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                WHERE datname = \(name) AND usename = current_user AND pid <> pg_backend_pid()
                """, logger: StoreTestSupport.logger)
        }
    }

    /// The admin role connected to the main database (`freigabe`), for CREATE/DROP DATABASE.
    private static func adminOnMain<Result: Sendable>(
        _ base: DatabaseSettings, _ body: @Sendable (PostgresClient) async throws -> Result
    ) async throws -> Result {
        var configuration = try base.clientConfiguration(admin: true)
        configuration.options.maximumConnections = 2
        return try await Database.withClient(configuration, logger: StoreTestSupport.logger, body)
    }

    private static func withTemplateLock(
        _ client: PostgresClient, _ body: (PostgresConnection) async throws -> Void
    ) async throws {
        try await client.withConnection { connection in
            try await connection.query("SELECT pg_advisory_lock(4242424242)", logger: StoreTestSupport.logger)
            do {
                try await body(connection)
            } catch {
                _ = try? await connection.query(
                    "SELECT pg_advisory_unlock(4242424242)", logger: StoreTestSupport.logger)
                throw error
            }
            try await connection.query("SELECT pg_advisory_unlock(4242424242)", logger: StoreTestSupport.logger)
        }
    }

    /// A fingerprint of the migrations (FNV-1a), kept as the template's comment: a changed migration
    /// rebuilds the template.
    static var migrationsFingerprint: String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for migration in Migrations.all {
            for byte in "\(migration.version)\u{0}\(migration.name)\u{0}\(migration.sql)\u{0}".utf8 {
                hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
            }
        }
        return "migrations:" + String(hash, radix: 16)
    }

    private static func ensureTemplate(base: DatabaseSettings, connection: PostgresConnection) async throws {
        let rows = try await connection.query(
            """
            SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = \(templateName)
            """, logger: StoreTestSupport.logger)
        var exists = false
        var comment: String? = nil
        for try await description in rows.decode(String?.self) {
            exists = true
            comment = description
        }
        if exists && comment == migrationsFingerprint { return }
        if exists {
            try await connection.query(
                "DROP DATABASE \(unescaped: templateName) WITH (FORCE)", logger: StoreTestSupport.logger)
        }
        try await connection.query(
            "CREATE DATABASE \(unescaped: templateName) TEMPLATE template0", logger: StoreTestSupport.logger)
        var settings = base
        settings.database = templateName
        _ = try await Database.withClient(
            try settings.clientConfiguration(admin: true), logger: StoreTestSupport.logger
        ) {
            client in
            try await Migrator.migrate(client: client, appRole: base.user, logger: StoreTestSupport.logger)
        }
        try await connection.query(
            "COMMENT ON DATABASE \(unescaped: templateName) IS '\(unescaped: migrationsFingerprint)'",
            logger: StoreTestSupport.logger)
    }

    /// Runs `body` with clients for the application role and the admin role on this database.
    func withClients<Result: Sendable>(
        _ body: @Sendable (_ app: PostgresClient, _ admin: PostgresClient) async throws -> Result
    ) async throws -> Result {
        let settings = self.settings
        return try await Database.withClient(try settings.clientConfiguration(), logger: StoreTestSupport.logger) {
            app in
            try await Database.withClient(
                try settings.clientConfiguration(admin: true), logger: StoreTestSupport.logger
            ) { admin in
                try await body(app, admin)
            }
        }
    }
}

/// The demo directory's people as callers (roles as LDAP would report them).
enum People {
    static let groups = "ou=groups,dc=stadt,dc=example"
    static let anna = Caller(uid: "anna", displayName: "Anna Antrag", clientAddress: "192.0.2.10")
    static let juergen = Caller(uid: "jürgen", displayName: "Jürgen Umlaut", clientAddress: "2001:db8::7")
    static let otto = Caller(uid: "otto", displayName: "Otto Owner", clientAddress: "192.0.2.11")
    static let volker = Caller(uid: "volker", displayName: "Volker Verkehr")
    static let marta = Caller(uid: "marta", displayName: "Marta Melde")
    static let stefan = Caller(
        uid: "stefan", displayName: "Stefan Steward", stewardDomains: ["umwelt"],
        groups: ["cn=stewards-umwelt,\(groups)"])
    static let sina = Caller(
        uid: "sina", displayName: "Sina Steward", stewardDomains: ["mobilitaet"],
        groups: ["cn=stewards-mobilitaet,\(groups)"])
    static let bea = Caller(
        uid: "bea", displayName: "Bea Bevölkerung", stewardDomains: ["bevoelkerung"],
        groups: ["cn=stewards-bevoelkerung,\(groups)"])
    static let dora = Caller(
        uid: "dora", displayName: "Dora Datenschutz", roles: [.dsb],
        groups: ["cn=freigabe-dsb,\(groups)", "cn=datenschutz-team,\(groups)"])
    /// A second DSB, for races between two holders of one role.
    static let dirk = Caller(uid: "dirk", displayName: "Dirk Datenschutz", roles: [.dsb])
    static let ingo = Caller(uid: "ingo", displayName: "Ingo Sicherheit", roles: [.isb])
    static let olga = Caller(uid: "olga", displayName: "Olga Open Data", roles: [.openDataOfficer])
    static let greta = Caller(uid: "greta", displayName: "Greta Governance", roles: [.governance])
    static let alex = Caller(uid: "alex", displayName: "Alex Auditor", roles: [.auditor])
    static let adam = Caller(uid: "adam", displayName: "Adam Admin", roles: [.admin])
    static let paul = Caller(uid: "paul", displayName: "Paul Vertretung")

    static let all = [
        anna, juergen, otto, volker, marta, stefan, sina, bea, dora, dirk, ingo, olga, greta, alex, adam, paul,
    ]

    /// The groups of the demo directory (`scripts/demo/directory.ldif`), by their normalised DN.
    static let directoryGroups: Set<String> = Set(
        [
            "datenschutz-team", "freigabe-dsb", "freigabe-isb", "freigabe-open-data", "freigabe-governance",
            "freigabe-auditors", "freigabe-admins", "stewards-umwelt", "stewards-mobilitaet", "stewards-bevoelkerung",
            "amt-stadtentwicklung", "umweltamt", "all-staff",
        ].map { DNKey.key("cn=\($0),\(groups)") })

    /// The directory as a resolver for principals.
    static let resolver = ClosurePrincipalResolver(
        { uid in
            // Like the directory: the uid is matched without regard to case and answered in its own spelling.
            all.first { $0.uid.lowercased() == uid.lowercased() }.map {
                DirectoryEntry(uid: $0.uid, facts: $0.directoryFacts)
            }
        },
        groups: { dn in directoryGroups.contains(DNKey.key(dn)) })
}

/// A service on a fresh database with the demo catalogue, run as the least-privilege application role.
struct ServiceFixture: Sendable {
    let service: RequestService
    let app: PostgresClient
    let admin: PostgresClient
    let logger = StoreTestSupport.logger

    static func with<Result: Sendable>(
        importCatalogue: Bool = true, workflows: WorkflowLibrary = StoreTestSupport.workflows,
        _ body: @Sendable (ServiceFixture) async throws -> Result
    ) async throws -> Result {
        try await TestDatabase.with { database in
            try await database.withClients { app, admin in
                if importCatalogue {
                    let document = try CatalogParser.parse(path: StoreTestSupport.demoCatalog)
                    _ = try await CatalogRepository(client: app).importCatalog(
                        document, file: "catalog.yaml", actor: "test", now: Clock.start, logger: StoreTestSupport.logger
                    )
                }
                let service = RequestService(
                    client: app, workflows: workflows, calendar: StoreTestSupport.calendar,
                    principals: People.resolver)
                return try await body(ServiceFixture(service: service, app: app, admin: admin))
            }
        }
    }

    /// Row counts of the tables a command may change.
    func counts() async throws -> [String: Int] {
        var result: [String: Int] = [:]
        for table in [
            "requests", "decisions", "audit_events", "outbox", "timers", "idempotency_keys", "deputyships",
            "workflow_definitions", "datasets",
        ] {
            let rows = try await admin.query("SELECT count(*) FROM \(unescaped: table)", logger: logger)
            for try await count in rows.decode(Int.self) { result[table] = count }
        }
        return result
    }

    /// The `event` column of the audit log for a request, in order.
    /// What `actor` was refused, oldest first: the `command` of their `forbidden` security events.
    func refusedCommands(of actor: String) async throws -> [String] {
        let rows = try await admin.query(
            "SELECT details->>'command' FROM audit_events WHERE event = 'forbidden' AND actor = \(actor) ORDER BY id",
            logger: logger)
        return try await rows.decode(String.self).reduce(into: []) { $0.append($1) }
    }

    func auditEvents(request: UUID? = nil) async throws -> [String] {
        let rows = try await admin.query(
            "SELECT event FROM audit_events WHERE \(request)::uuid IS NULL OR request_id = \(request) ORDER BY id",
            logger: logger)
        var result: [String] = []
        for try await event in rows.decode(String.self) { result.append(event) }
        return result
    }

    /// The topics of the request's mail rows, in order.
    func outboxTopics(request: UUID) async throws -> [String] {
        let rows = try await admin.query(
            "SELECT topic FROM outbox WHERE request_id = \(request) AND kind = 'mail' ORDER BY id", logger: logger)
        var result: [String] = []
        for try await topic in rows.decode(String.self) { result.append(topic) }
        return result
    }
}

/// Fixed instants for the tests (Europe/Berlin working days in Hessen).
enum Clock {
    /// Monday 2 March 2026, 09:00 CET.
    static let start = date("2026-03-02T08:00:00Z")

    static func date(_ text: String) -> Date {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)!
    }

    static func days(_ count: Double, after base: Date = start) -> Date { base.addingTimeInterval(count * 86_400) }
}

/// Expects a `ServiceError` with `code` from `body`.
@discardableResult
func expectServiceError<Value>(
    _ code: ServiceError.Code, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> Value
) async -> ServiceError? {
    do {
        _ = try await body()
        Issue.record("expected \(code), but the call succeeded", sourceLocation: sourceLocation)
        return nil
    } catch let error as ServiceError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record(
            "expected a ServiceError \(code), got \(String(reflecting: error))", sourceLocation: sourceLocation)
        return nil
    }
}

extension UserText {
    /// The text in German, as the API answers without `Accept-Language`.
    var german: String { resolved(in: StoreTestSupport.german) }
}
