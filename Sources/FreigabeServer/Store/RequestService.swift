import Foundation
import Logging
import PostgresNIO
import WorkflowEngine

/// The application service every HTTP route calls: requests, decisions, inbox, deputyships and the
/// catalogue, on PostgreSQL.
///
/// Each command reads the request row with its dataset and the caller's deputyships in one statement,
/// without a lock (`CommandSubject`), rebuilds the `RequestMachine` from the pinned definition stored in
/// `workflow_definitions` and the stored snapshot, maps the `Caller` to the engine's `Decider` (Data
/// Owner from the catalogue, Data Steward from the domain, LDAP roles, deputyships with the principals'
/// roles), runs the engine event, and writes the request row with an optimistic version check
/// (`UPDATE … WHERE version = $expected`, version + 1), the decision rows, one `audit_events` row per
/// audit effect, `outbox` rows for every notification and `timers` rows for reminders, escalations and
/// expiry in ONE statement (`CommandWrite`): it takes effect completely, or not at all when a concurrent
/// command won (`conflict`). With an Idempotency-Key the key is stored in the same transaction. Timers
/// lock the request row (`SELECT … FOR UPDATE`) before loading it, so a reminder and an escalation of one
/// request run one after the other. Nothing is sent from here: the outbox dispatcher sends after the
/// commit.
///
/// Errors are ``ServiceError``s. A forbidden attempt is recorded as a security event in its own
/// transaction (the failed command's transaction is rolled back); validation errors write nothing.
/// Someone who may not see a request gets `notFound`, so its existence does not leak.
///
/// `expectedVersion` (the `If-Match` of the API, `RequestView.version` as the client saw it): when given
/// and the request has changed since, the command fails with `conflict` before anything else. Without
/// it, a command that lost a race to a concurrent one also gets `conflict` (optimistic version check);
/// one that arrives after the other committed is judged on the new state.
///
/// Time is always the `now` parameter (the HTTP layer passes `Date()`), so tests can drive deadlines.
/// `idempotencyKey` (the `Idempotency-Key` header): the same key with the same input answers the stored
/// result without a second effect; with another input it fails with `idempotencyMismatch`.
///
/// Types: inputs in `Service/ServiceInputs.swift`, views in `Service/ServiceViews.swift`, the caller in
/// `Service/Caller.swift`, errors in `Service/ServiceError.swift`.
public struct RequestService: Sendable {
    let client: PostgresClient
    let workflows: WorkflowLibrary
    let calendar: WorkingDayCalendar
    let principals: any PrincipalResolver
    let pinnedCache: PinnedDefinitionCache
    let metrics: AppMetrics?
    /// Which webhook events commands write to the outbox (see ``WebhookEventSelection``).
    let webhookEvents: WebhookEventSelection

    /// - Parameters:
    ///   - client: a running `PostgresClient` connected as the application role.
    ///   - workflows: the current definitions (new requests take the newest per kind); requests in flight
    ///     use the text stored in `workflow_definitions` when they were created.
    ///   - calendar: working days for deadlines and "seit n Arbeitstagen".
    ///   - principals: the directory facts of people the caller deputises for.
    ///   - metrics: where command outcomes and decisions are counted.
    ///   - webhookEvents: the event types the configured webhook subscriptions want; the others are
    ///     not written to the outbox.
    public init(
        client: PostgresClient, workflows: WorkflowLibrary, calendar: WorkingDayCalendar,
        principals: any PrincipalResolver, metrics: AppMetrics? = nil, webhookEvents: WebhookEventSelection = .all
    ) {
        self.metrics = metrics
        self.webhookEvents = webhookEvents
        self.client = client
        self.workflows = workflows
        self.calendar = calendar
        self.principals = principals
        self.pinnedCache = PinnedDefinitionCache(library: workflows)
    }

    // MARK: Requests

    /// Files a new request for `caller`: saved as a draft, or submitted at once when `input.submit`.
    /// Validation: unknown dataset, purpose, recipient (Shared Data), legal basis (personal data), period,
    /// anonymisation statement (Open Data of data that was ever personal), Open Data check, text rules.
    public func createRequest(
        _ input: NewRequest, caller: Caller, now: Date, idempotencyKey: String? = nil, logger: Logger
    ) async throws(ServiceError) -> RequestView {
        try await guarded(logger) {
            try await self.performCreate(input, caller: caller, now: now, key: idempotencyKey, logger: $0)
        }
    }

    /// The request the caller's `createRequest` with this Idempotency-Key made (within the key's
    /// lifetime), or nil: a page whose form was sent twice with different buttons (saved as a draft,
    /// then, after "back", submitted) leads to what the first one made instead of refusing the second.
    public func requestCreated(
        byKey key: String, caller: Caller, now: Date, logger: Logger
    ) async throws(ServiceError) -> UUID? {
        try await guarded(logger) { logger in
            try RequestValidation.checkIdempotencyKey(key)
            let since = now.addingTimeInterval(-IdempotencyStore.lifetime)
            return try await Database.read(self.client, logger: logger) { connection in
                try await connection.query(
                    """
                    SELECT (response->>'id')::uuid FROM idempotency_keys
                    WHERE actor = \(caller.uid) AND key = \(key) AND operation = 'create' AND created_at >= \(since)
                    """, logger: logger
                ).decode(UUID?.self).first(where: { _ in true }) ?? nil
            }
        }
    }

    /// Submits a draft. Only the requester.
    public func submit(
        requestID: UUID, caller: Caller, now: Date, expectedVersion: Int? = nil, idempotencyKey: String? = nil,
        logger: Logger
    ) async throws(ServiceError) -> RequestView {
        try await guarded(logger) {
            try await self.performCommand(
                SubmitCommand(), requestID: requestID, caller: caller, now: now, expectedVersion: expectedVersion,
                key: idempotencyKey, logger: $0)
        }
    }

    /// Decides the current step (or `branch` of a parallel step; nil picks the first open branch the caller
    /// may decide). Not your step, the own request → `forbidden` (and a security event). Someone who has
    /// already decided on this request (their own earlier step or second click) or whose chance another
    /// decision took (``RequestMachine/decisionAlreadyTaken(by:at:)``) → `conflict` naming who decided and
    /// when, not recorded as a refusal; a request that is not waiting for a decision → `invalidState`; a
    /// concurrent decision → `conflict`.
    public func decide(
        requestID: UUID, decision: DecisionInput, branch: String? = nil, caller: Caller, now: Date,
        expectedVersion: Int? = nil, idempotencyKey: String? = nil, logger: Logger
    ) async throws(ServiceError) -> RequestView {
        try await guarded(logger) {
            try await self.performCommand(
                try DecideCommand(decision, branch: branch), requestID: requestID, caller: caller, now: now,
                expectedVersion: expectedVersion, key: idempotencyKey, logger: $0)
        }
    }

    /// The requester answers a question (`changes_requested`) and sends the request on.
    public func resubmit(
        requestID: UUID, changes: Resubmission, caller: Caller, now: Date, expectedVersion: Int? = nil,
        idempotencyKey: String? = nil, logger: Logger
    ) async throws(ServiceError) -> RequestView {
        try await guarded(logger) {
            try await self.performCommand(
                try ResubmitCommand(changes), requestID: requestID, caller: caller, now: now,
                expectedVersion: expectedVersion,
                key: idempotencyKey, logger: $0)
        }
    }

    /// The requester changes a draft: the fields in `changes` replace the stored ones.
    public func editDraft(
        requestID: UUID, changes: RequestDetails.Patch, caller: Caller, now: Date, expectedVersion: Int? = nil,
        idempotencyKey: String? = nil, logger: Logger
    ) async throws(ServiceError) -> RequestView {
        try await guarded(logger) {
            try await self.performCommand(
                EditDraftCommand(changes: changes), requestID: requestID, caller: caller, now: now,
                expectedVersion: expectedVersion, key: idempotencyKey, logger: $0)
        }
    }

    /// The requester withdraws (draft, in review or while a question is open).
    public func withdraw(
        requestID: UUID, comment: String? = nil, caller: Caller, now: Date, expectedVersion: Int? = nil,
        idempotencyKey: String? = nil, logger: Logger
    ) async throws(ServiceError) -> RequestView {
        try await guarded(logger) {
            try await self.performCommand(
                try WithdrawCommand(comment: comment), requestID: requestID, caller: caller, now: now,
                expectedVersion: expectedVersion, key: idempotencyKey, logger: $0)
        }
    }

    /// Revokes granted Shared Data access (roles in the definition's `revocable_by`, or their deputies).
    public func revoke(
        requestID: UUID, reason: String, caller: Caller, now: Date, expectedVersion: Int? = nil,
        idempotencyKey: String? = nil, logger: Logger
    ) async throws(ServiceError) -> RequestView {
        try await guarded(logger) {
            try await self.performCommand(
                try RevokeCommand(reason: reason), requestID: requestID, caller: caller, now: now,
                expectedVersion: expectedVersion, key: idempotencyKey, logger: $0)
        }
    }

    /// The escalation instance of the step a request waits at closes it as withdrawn, once the people it
    /// waits for had their time (``RequestMachine/discontinueAuthority(of:at:)``).
    public func discontinue(
        requestID: UUID, reason: String, caller: Caller, now: Date, expectedVersion: Int? = nil,
        idempotencyKey: String? = nil, logger: Logger
    ) async throws(ServiceError) -> RequestView {
        try await guarded(logger) {
            try await self.performCommand(
                try DiscontinueCommand(reason: reason), requestID: requestID, caller: caller, now: now,
                expectedVersion: expectedVersion, key: idempotencyKey, logger: $0)
        }
    }

    /// One request, if the caller may see it: the requester, anyone who decides or decided on it (also as
    /// deputy or escalation instance), deputies of those, auditors, administrators, stewards of the
    /// dataset's domain and its owner. Others get `notFound`. What the read records (a security event
    /// for a refusal, `audit_read` for an auditor's or administrator's reading of a request that does not
    /// concern them) is `recording`'s choice (``ReadRecording``). The decision options are those of
    /// `branch` of the current step when one is named (a decision link's), else of the first the caller may decide.
    public func request(
        id: UUID, caller: Caller, now: Date, recording: ReadRecording = .recorded, branch: String? = nil,
        logger: Logger
    ) async throws(ServiceError) -> RequestView {
        try await guarded(logger) {
            try await self.performRead(
                id: id, caller: caller, now: now, actingFacts: false, recording: recording, branch: branch, logger: $0
            ).view
        }
    }

    /// ``request(id:caller:now:logger:)`` for the request page, with what it needs to name who must act
    /// now (``ActingFacts``) from the same statement.
    public func requestForPage(
        id: UUID, caller: Caller, now: Date, logger: Logger
    ) async throws(ServiceError) -> (view: RequestView, acting: ActingFacts?) {
        try await guarded(logger) {
            try await self.performRead(id: id, caller: caller, now: now, actingFacts: true, logger: $0)
        }
    }

    /// The caller's own requests, newest first.
    public func myRequests(
        caller: Caller, query: RequestQuery = RequestQuery(), now: Date, logger: Logger
    ) async throws(ServiceError) -> [RequestSummary] {
        try await guarded(logger) {
            try await self.performMyRequests(caller: caller, query: query, now: now, logger: $0)
        }
    }

    /// What the caller must decide now: in their own right, as active deputy, and as escalation instance
    /// of overdue steps; oldest deadline first. Requests the caller may not decide (own request, another
    /// step already decided) are left out.
    public func inbox(caller: Caller, now: Date, logger: Logger) async throws(ServiceError) -> [InboxItem] {
        try await guarded(logger) { try await self.performInbox(caller: caller, now: now, logger: $0) }
    }

    // MARK: Deputyships

    /// Deputyships where the caller is principal or deputy (administrators: all), current and future
    /// first; ended ones of the last 90 days included.
    /// The deputyships the caller is principal or deputy of; with `everyone` (the API's list for
    /// administrators) all of them. Pages that say "Sie vertreten …" ask for the caller's own only.
    public func deputyships(
        caller: Caller, everyone: Bool = false, now: Date, logger: Logger
    ) async throws(ServiceError) -> [DeputyshipView] {
        try await guarded(logger) {
            try await self.performListDeputyships(
                caller: caller, everyone: everyone && caller.roles.contains(.admin), now: now, logger: $0)
        }
    }

    /// Creates a deputyship for the caller (or, for administrators, for `input.principal`).
    public func createDeputyship(
        _ input: NewDeputyship, caller: Caller, now: Date, idempotencyKey: String? = nil, logger: Logger
    ) async throws(ServiceError) -> DeputyshipView {
        try await guarded(logger) {
            try await self.performCreateDeputyship(input, caller: caller, now: now, key: idempotencyKey, logger: $0)
        }
    }

    /// One deputyship, for its principal, its deputy or an administrator; `notFound` for anyone else.
    public func deputyship(
        id: UUID, caller: Caller, now: Date, logger: Logger
    ) async throws(ServiceError)
        -> DeputyshipView
    {
        try await guarded(logger) { try await self.performReadDeputyship(id: id, caller: caller, now: now, logger: $0) }
    }

    /// Ends a deputyship now (its principal, its deputy or an administrator). A deputyship that has not
    /// started yet is ended by setting its end to its start.
    public func endDeputyship(
        id: UUID, caller: Caller, now: Date, logger: Logger
    ) async throws(ServiceError) -> DeputyshipView {
        try await guarded(logger) { try await self.performEndDeputyship(id: id, caller: caller, now: now, logger: $0) }
    }

    // MARK: Catalogue (read for everyone; writes in `CatalogRepository`, administrators)

    /// Datasets matching `query`, by title.
    public func datasets(
        _ query: DatasetQuery = DatasetQuery(), logger: Logger
    ) async throws(ServiceError) -> [DatasetView] {
        try await guarded(logger) { try await CatalogRepository(client: self.client).datasets(query, logger: $0) }
    }

    /// A dataset as saved, and how many open requests its change handed to other people (a new owner, owner
    /// group or domain): the administrator is told.
    public struct DatasetSaved: Sendable {
        public var dataset: DatasetView
        public var reassignedRequests: Int
        /// The dataset did not exist before (the API's 201).
        public var created: Bool
    }

    /// One dataset, or `notFound`; also for an id no dataset can have (a NUL byte from a page's query
    /// would otherwise reach PostgreSQL, which refuses it as an internal error).
    public func dataset(id: String, logger: Logger) async throws(ServiceError) -> DatasetView {
        guard CatalogRules.isSlug(id) else { throw ServiceError.notFound("general.dataset_not_found") }
        return try await guarded(logger) {
            guard let dataset = try await CatalogRepository(client: self.client).dataset(id: id, logger: $0) else {
                throw ServiceError.notFound("general.dataset_not_found")
            }
            return dataset
        }
    }

    /// All domains, by title.
    public func domains(logger: Logger) async throws(ServiceError) -> [DomainView] {
        try await guarded(logger) { try await CatalogRepository(client: self.client).domains(logger: $0) }
    }

    /// Creates or replaces one dataset (administrators only). Its owner or owner group must be in the
    /// directory (``CatalogReferences``; the owner is stored as the directory spells it). With `shown`
    /// (``CatalogRepository/ShownDataset``) a dataset changed or created meanwhile is not replaced: `conflict`.
    public func upsertDataset(
        _ dataset: DatasetInput, caller: Caller, now: Date, shown: CatalogRepository.ShownDataset? = nil,
        logger: Logger
    ) async throws(ServiceError) -> DatasetSaved {
        try await guarded(logger) {
            try await self.performUpsertDataset(dataset, caller: caller, now: now, shown: shown, logger: $0)
        }
    }

    /// Imports a catalogue file (administrators only): all of it, or with a problem nothing at all. The
    /// people and groups it names must be in the directory (``CatalogReferences``).
    ///
    /// - Returns: What changed, or the problems by line (`CatalogImportError`), nothing stored.
    /// With `shown` (the administration's domain form) a domain changed meanwhile is not replaced:
    /// `conflict` (``CatalogRepository/ShownDomain``).
    public func importCatalog(
        _ document: CatalogDocument, file: String, caller: Caller, now: Date,
        shown: CatalogRepository.ShownDomain? = nil, logger: Logger
    ) async throws(ServiceError) -> Result<CatalogImportReport, CatalogImportError> {
        try await guarded(logger) {
            guard caller.roles.contains(.admin) else {
                throw Self.adminOnly(caller, command: "import_catalog", now: now)
            }
            var references = CatalogReferences(directory: self.principals)
            let (document, problems) = try await Self.askingDirectory(about: "catalogue file \(file)") {
                try await references.check(document, file: file)
            }
            guard problems.isEmpty else { return .failure(CatalogImportError(problems: problems)) }
            do {
                let report = try await CatalogRepository(client: self.client).importCatalog(
                    document, file: file, actor: caller.uid, now: now, shown: shown, logger: $0)
                return .success(report)
            } catch let problems as CatalogImportError {
                return .failure(problems)
            }
        }
    }

    /// Administrators only: anyone else is refused with `forbidden`, recorded as a security event where
    /// every refusal is (``guarded(_:_:)``). The administration pages ask it before they read a form they
    /// were sent, so that a change refused there is in the log as one refused through the API is.
    ///
    /// - Parameter command: what was refused, e.g. `web:POST /verwaltung/domaene`.
    public func requireAdmin(_ caller: Caller, command: String, now: Date, logger: Logger) async throws(ServiceError) {
        try await guarded(logger) { _ in
            guard caller.roles.contains(.admin) else { throw Self.adminOnly(caller, command: command, now: now) }
        }
    }

    /// The refusal of a change of the catalogue or the outbox by someone who is no administrator.
    static func adminOnly(_ caller: Caller, command: String, datasetID: String? = nil, now: Date) -> SecurityRefusal {
        refusal(caller, command: command, message: UserText("catalog.admin_only"), datasetID: datasetID, now: now)
    }

    /// A `forbidden` answer with `message`, recorded as a security event naming `command`.
    static func refusal(
        _ caller: Caller, command: String, message: UserText, datasetID: String? = nil, now: Date
    ) -> SecurityRefusal {
        SecurityRefusal(
            error: ServiceError(.forbidden, message: message),
            event: AuditRow(
                occurredAt: now, actor: caller.uid, datasetID: datasetID, event: .forbidden,
                clientAddress: caller.clientAddress,
                details: (try? StoredJSON.encode(["command": String(command.prefix(200))])) ?? "{}"))
    }

    // MARK: Security events

    /// Appends a security event (failed login, forbidden page, ...) to the audit log in its own
    /// transaction.
    public func recordSecurityEvent(_ event: SecurityEvent, now: Date, logger: Logger) async throws(ServiceError) {
        try await guarded(logger) { try await self.insertSecurityEvent(event, now: now, logger: $0) }
    }
}
