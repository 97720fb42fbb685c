import Foundation
import Logging
import PostgresNIO
import WorkflowEngine

/// A command on an existing request.
enum RequestCommand: Sendable {
    case submit
    case decide(DecisionInput, branch: String?)
    case resubmit(Resubmission)
    case withdraw(comment: String?)
    case revoke(reason: String)

    var operation: String {
        switch self {
        case .submit: "submit"
        case .decide: "decide"
        case .resubmit: "resubmit"
        case .withdraw: "withdraw"
        case .revoke: "revoke"
        }
    }
}

/// A refusal worth recording: the command's transaction is rolled back, then the event is written in a
/// transaction of its own, then `error` reaches the caller.
struct SecurityRefusal: Error {
    var error: ServiceError
    var event: AuditRow
}

/// What the idempotency record of a command holds and compares.
private struct Fingerprint: Encodable {
    var operation: String
    var requestID: UUID?
    var input: String
}

extension RequestService {
    var views: ViewBuilder { ViewBuilder(calendar: calendar) }

    /// Runs `body` with the request logger, maps every error to a `ServiceError` and records security
    /// refusals.
    func guarded<Result: Sendable>(
        _ logger: Logger, _ body: (Logger) async throws -> Result
    ) async throws(ServiceError) -> Result {
        do {
            return try await body(logger)
        } catch let refusal as SecurityRefusal {
            do {
                try await Database.transaction(client, logger: logger) { connection in
                    try await AuditWriter.insert(refusal.event, on: connection, logger: logger)
                }
            } catch {
                // The refusal stands even if it cannot be logged; operators see this.
                logger.error(
                    "could not record security event",
                    metadata: ["event": "\(refusal.event.event)", "error": "\(String(reflecting: error))"])
            }
            logger.notice(
                "refused",
                metadata: [
                    "actor": "\(refusal.event.actor ?? "-")",
                    "request.id": "\(refusal.event.requestID?.uuidString ?? "-")",
                    "error": "\(refusal.error)",
                ])
            throw refusal.error
        } catch {
            let mapped = Database.serviceError(from: error)
            switch mapped.code {
            case .internal, .unavailable:
                logger.error("store operation failed", metadata: ["error": "\(mapped)"])
            case .validation, .notFound, .forbidden, .conflict, .invalidState, .idempotencyMismatch:
                logger.debug("store operation refused", metadata: ["error": "\(mapped)"])
            }
            throw mapped
        }
    }

    /// One transaction with the Idempotency-Key protocol around `body`: a stored answer for the same key
    /// and fingerprint is returned without running `body`; another fingerprint is `idempotencyMismatch`.
    /// The key row is inserted before `body` runs, so a concurrent request with the same key waits for
    /// this transaction and then finds the stored answer (one retry after the unique violation).
    func idempotent<Result: Codable & Sendable>(
        caller: Caller, key: String?, operation: String, requestID: UUID?, input: some Encodable, status: Int,
        now: Date, logger: Logger, _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        guard let key else { return try await Database.transaction(client, logger: logger, body) }
        try RequestValidation.checkIdempotencyKey(key)
        let fingerprint = try StoredJSON.encode(
            Fingerprint(operation: operation, requestID: requestID, input: try StoredJSON.encode(input)))
        for attempt in 1...2 {
            do {
                return try await Database.transaction(client, logger: logger) { connection in
                    // Keys live 24 hours; an older one may be reused.
                    try await connection.query(
                        """
                        DELETE FROM idempotency_keys
                        WHERE actor = \(caller.uid) AND key = \(key) AND created_at < \(now.addingTimeInterval(-86_400))
                        """, logger: logger)
                    let rows = try await connection.query(
                        """
                        SELECT fingerprint = sha256(convert_to(\(fingerprint), 'UTF8')), response::text
                        FROM idempotency_keys WHERE actor = \(caller.uid) AND key = \(key)
                        """, logger: logger)
                    for try await (same, response) in rows.decode((Bool, String).self) {
                        guard same else {
                            throw ServiceError(
                                .idempotencyMismatch,
                                message: "Dieser Idempotency-Key wurde bereits für eine andere Anfrage verwendet.",
                                details: "key \(key) of \(caller.uid) reused for \(operation)")
                        }
                        logger.debug("idempotent replay", metadata: ["idempotency.key": "\(key)"])
                        return try StoredJSON.decode(Result.self, from: response)
                    }
                    try await connection.query(
                        """
                        INSERT INTO idempotency_keys (actor, key, operation, fingerprint, status, response, created_at)
                        VALUES (\(caller.uid), \(key), \(operation), sha256(convert_to(\(fingerprint), 'UTF8')),
                                \(status), '{}'::jsonb, \(now))
                        """, logger: logger)
                    let result = try await body(connection)
                    try await connection.query(
                        """
                        UPDATE idempotency_keys SET response = \(try StoredJSON.encode(result))::jsonb
                        WHERE actor = \(caller.uid) AND key = \(key)
                        """, logger: logger)
                    return result
                }
            } catch  where Database.sqlState(of: error) == "23505" && attempt == 1 {
                // unique_violation on idempotency_keys: the same key committed concurrently; read its answer.
                continue
            }
        }
        throw ServiceError.conflict("idempotency key \(key) kept colliding")
    }

    // MARK: Create

    func performCreate(
        _ input: NewRequest, caller: Caller, now: Date, key: String?, logger: Logger
    ) async throws
        -> RequestView
    {
        var errors = FieldErrors()
        let fields = RequestValidation.clean(input, now: now, errors: &errors)
        let datasetID = input.datasetID.trimmingCharacters(in: .whitespaces)
        let context = try await CallerContext.load(
            caller: caller, now: now, client: client, principals: principals, logger: logger)
        var logger = logger
        logger[metadataKey: "actor"] = "\(caller.uid)"
        return try await idempotent(
            caller: caller, key: key, operation: "create", requestID: nil, input: input, status: 201, now: now,
            logger: logger
        ) { [self, logger, errors] connection in
            var errors = errors
            let dataset =
                CatalogRules.isSlug(datasetID)
                ? try await DatasetRecord.load(id: datasetID, on: connection, logger: logger) : nil
            if dataset == nil { errors.add("dataset_id", "Diesen Datensatz gibt es im Katalog nicht.") }
            guard let entry = workflows.current(for: input.kind) else {
                throw ServiceError.validation(["kind": "Für diese Art der Freigabe ist kein Workflow eingerichtet."])
            }
            if let dataset, input.submit {
                RequestValidation.completeness(fields, kind: input.kind, dataset: dataset, errors: &errors)
            }
            try errors.check()
            guard let dataset else { throw ServiceError.internal("dataset vanished") }

            try await connection.query(
                """
                INSERT INTO workflow_definitions (workflow_id, version, content_hash, source, first_used_at)
                VALUES (\(entry.definition.id), \(entry.definition.version), \(entry.definition.contentHash),
                        \(entry.source), \(now))
                ON CONFLICT DO NOTHING
                """, logger: logger)
            let year = calendar.civilDate(of: now).year
            let numberRows = try await connection.query(
                "SELECT 'FG-' || \(String(year)) || '-' || lpad(nextval('request_number_seq')::text, 6, '0')",
                logger: logger)
            guard let number = try await numberRows.decode(String.self).first(where: { _ in true }) else {
                throw ServiceError.internal("no request number")
            }
            var record = RequestRecord(
                id: UUID(), number: number, kind: input.kind, datasetID: dataset.id, requester: caller.uid,
                purpose: fields.purpose, recipient: fields.recipient, legalBasis: fields.legalBasis,
                accessStart: fields.accessStart, accessEnd: fields.accessEnd, licence: fields.licence,
                format: fields.format, anonymisationStatement: fields.anonymisationStatement,
                openDataCheck: fields.openDataCheck,
                snapshot: RequestSnapshot(
                    pin: entry.definition.pin, requester: caller.uid, facts: dataset.facts(kind: input.kind),
                    accessEnd: fields.accessEnd),
                version: 1, createdAt: now, updatedAt: now, submittedAt: nil)
            record.snapshot.facts = record.facts(catalogue: dataset.facts(kind: input.kind))
            var machine = try engine { () throws(WorkflowError) in
                try RequestMachine(definition: entry.definition, calendar: calendar, snapshot: record.snapshot)
            }
            var effects: [Effect] = []
            if input.submit {
                effects = try engine(definition: entry.definition) { () throws(WorkflowError) in
                    try machine.submit(by: caller.uid, at: now)
                }
                record.submittedAt = now
            }
            try await record.insert(machine: machine, on: connection, logger: logger)
            let effectContext = EffectContext(
                requestID: record.id, number: record.number, kind: record.kind, dataset: dataset, requester: caller.uid,
                clientAddress: caller.clientAddress, now: now)
            // Creating a draft is no transition of the workflow, but the log says who filed what, when.
            try await AuditWriter.insert(
                AuditRow(
                    occurredAt: now, actor: caller.uid, requestID: record.id, datasetID: dataset.id, event: "created",
                    state: "draft", clientAddress: caller.clientAddress,
                    details: try StoredJSON.encode(["request_number": record.number, "kind": record.kind.rawValue])),
                on: connection, logger: logger)
            try await EffectWriter.apply(effects, context: effectContext, on: connection, logger: logger)
            logger.info(
                "request created",
                metadata: [
                    "request.id": "\(record.id)", "request.number": "\(record.number)", "submitted": "\(input.submit)",
                ])
            return views.view(record, machine: machine, dataset: dataset, context: context, now: now)
        }
    }

    // MARK: Commands on a request

    func performCommand(
        _ command: RequestCommand, requestID: UUID, caller: Caller, now: Date, expectedVersion: Int?, key: String?,
        logger: Logger
    ) async throws -> RequestView {
        var logger = logger
        logger[metadataKey: "actor"] = "\(caller.uid)"
        logger[metadataKey: "request.id"] = "\(requestID)"
        // Shape checks that need no row come first, so a bad input touches nothing.
        var errors = FieldErrors()
        let input: any Encodable & Sendable
        switch command {
        case .submit:
            input = "submit"
        case .decide(let decision, let branch):
            switch decision {
            case .approve(let comment, let licence, let portalURL):
                _ = RequestValidation.comment("comment", comment, required: false, errors: &errors)
                _ = errors.text("licence", licence, limit: InputLimits.name)
                _ = errors.text("portal_url", portalURL, limit: InputLimits.url)
            case .reject(let reason):
                _ = RequestValidation.comment("reason", reason, required: true, errors: &errors)
            case .requestChanges(let question):
                _ = RequestValidation.comment("question", question, required: true, errors: &errors)
            }
            if let branch { _ = errors.text("branch", branch, limit: InputLimits.name) }
            input = DecideFingerprint(decision: decision, branch: branch)
        case .resubmit(let changes):
            _ = RequestValidation.comment("comment", changes.comment, required: false, errors: &errors)
            input = changes
        case .withdraw(let comment):
            _ = RequestValidation.comment("comment", comment, required: false, errors: &errors)
            input = ["comment": comment]
        case .revoke(let reason):
            _ = RequestValidation.comment("reason", reason, required: true, errors: &errors)
            input = ["reason": reason]
        }
        try errors.check()
        let context = try await CallerContext.load(
            caller: caller, now: now, client: client, principals: principals, logger: logger)
        return try await idempotent(
            caller: caller, key: key, operation: command.operation, requestID: requestID, input: AnyEncodable(input),
            status: 200, now: now, logger: logger
        ) { [self, logger] connection in
            try await run(
                command, requestID: requestID, context: context, now: now, expectedVersion: expectedVersion,
                on: connection, logger: logger)
        }
    }

    private func run(
        _ command: RequestCommand, requestID: UUID, context: CallerContext, now: Date, expectedVersion: Int?,
        on connection: PostgresConnection, logger: Logger
    ) async throws -> RequestView {
        let caller = context.caller
        guard var record = try await RequestRecord.load(id: requestID, on: connection, logger: logger) else {
            throw ServiceError.notFound()
        }
        guard let dataset = try await DatasetRecord.load(id: record.datasetID, on: connection, logger: logger) else {
            throw ServiceError.internal("dataset \(record.datasetID) of request \(requestID) is missing")
        }
        let definition = try await pinnedCache.definition(for: record.snapshot.pin, on: connection, logger: logger)
        var machine = try engine(definition: definition) { () throws(WorkflowError) in
            try RequestMachine(definition: definition, calendar: calendar, snapshot: record.snapshot)
        }
        func refusal(_ error: ServiceError) -> SecurityRefusal {
            SecurityRefusal(
                error: error,
                event: AuditRow(
                    occurredAt: now, actor: caller.uid, requestID: requestID, datasetID: record.datasetID,
                    event: "forbidden", state: machine.state.name, clientAddress: caller.clientAddress,
                    details: (try? StoredJSON.encode([
                        "command": command.operation, "engine_code": error.engineCode ?? "",
                        "reason": error.code.rawValue,
                    ])) ?? "{}"))
        }
        guard context.maySee(machine, dataset: dataset, now: now) else {
            throw refusal(ServiceError.notFound())
        }
        if let expectedVersion, expectedVersion != record.version {
            throw ServiceError.conflict("request \(requestID) is at version \(record.version), not \(expectedVersion)")
        }
        let decider = context.decider(for: dataset)
        let previousDecisions = machine.decisions.count
        let effects: [Effect]
        do {
            switch command {
            case .submit:
                guard caller.uid == record.requester else {
                    throw refusal(
                        Self.forbidden("Nur die antragstellende Person kann den Antrag einreichen.", "not_requester"))
                }
                var errors = FieldErrors()
                let fields = CleanRequestFields(
                    purpose: record.purpose, recipient: record.recipient, legalBasis: record.legalBasis,
                    accessStart: record.accessStart, accessEnd: record.accessEnd, licence: record.licence,
                    format: record.format, anonymisationStatement: record.anonymisationStatement,
                    openDataCheck: record.openDataCheck)
                if case .draft = machine.state {
                    RequestValidation.completeness(fields, kind: record.kind, dataset: dataset, errors: &errors)
                    if let accessEnd = record.accessEnd, accessEnd <= now {
                        errors.add("access_end", "Das Nutzungsende muss in der Zukunft liegen.")
                    }
                    try errors.check()
                    // A draft routes on the catalogue as it is when it is submitted.
                    var snapshot = machine.snapshot
                    snapshot.facts = record.facts(catalogue: dataset.facts(kind: record.kind))
                    snapshot.accessEnd = record.accessEnd
                    machine = try engine(definition: definition) { () throws(WorkflowError) in
                        try RequestMachine(definition: definition, calendar: calendar, snapshot: snapshot)
                    }
                }
                effects = try engine(definition: definition) { () throws(WorkflowError) in
                    try machine.submit(by: caller.uid, at: now)
                }
                record.submittedAt = now
            case .decide(let decision, let branch):
                switch decision {
                case .approve(let comment, let licence, let portalURL):
                    var errors = FieldErrors()
                    let comment = RequestValidation.comment("comment", comment, required: false, errors: &errors)
                    let details = ApprovalDetails(
                        licence: errors.text("licence", licence, limit: InputLimits.name),
                        portalURL: errors.text("portal_url", portalURL, limit: InputLimits.url))
                    effects = try engine(definition: definition) { () throws(WorkflowError) in
                        try machine.approve(by: decider, at: now, comment: comment, details: details, branch: branch)
                    }
                case .reject(let reason):
                    var errors = FieldErrors()
                    let reason = RequestValidation.comment("reason", reason, required: true, errors: &errors) ?? ""
                    effects = try engine(definition: definition) { () throws(WorkflowError) in
                        try machine.reject(by: decider, at: now, reason: reason, branch: branch)
                    }
                case .requestChanges(let question):
                    var errors = FieldErrors()
                    let question =
                        RequestValidation.comment("question", question, required: true, errors: &errors) ?? ""
                    effects = try engine(definition: definition) { () throws(WorkflowError) in
                        try machine.requestChanges(by: decider, at: now, question: question, branch: branch)
                    }
                }
            case .resubmit(let changes):
                guard caller.uid == record.requester else {
                    throw refusal(
                        Self.forbidden(
                            "Nur die antragstellende Person kann den Antrag erneut einreichen.", "not_requester"))
                }
                guard case .changesRequested = machine.state else {
                    throw ServiceError(
                        .invalidState, message: "Zu diesem Antrag ist keine Rückfrage offen.",
                        engineCode: WorkflowError.Code.invalidTransition.rawValue)
                }
                var errors = FieldErrors()
                let comment = RequestValidation.comment("comment", changes.comment, required: false, errors: &errors)
                let fields = RequestValidation.merge(changes, into: record, now: now, errors: &errors)
                RequestValidation.completeness(fields, kind: record.kind, dataset: dataset, errors: &errors)
                try errors.check()
                record.purpose = fields.purpose
                record.recipient = fields.recipient
                record.legalBasis = fields.legalBasis
                record.accessStart = fields.accessStart
                record.accessEnd = fields.accessEnd
                record.licence = fields.licence
                record.format = fields.format
                record.anonymisationStatement = fields.anonymisationStatement
                record.openDataCheck = fields.openDataCheck
                // The catalogue facts stay those the request was routed on; the requester's own facts change.
                let facts = record.facts(catalogue: machine.snapshot.facts)
                let accessEnd = record.accessEnd
                effects = try engine(definition: definition) { () throws(WorkflowError) in
                    try machine.resubmit(
                        by: caller.uid, at: now, facts: facts, accessEnd: .some(accessEnd), comment: comment)
                }
            case .withdraw(let comment):
                var errors = FieldErrors()
                let comment = RequestValidation.comment("comment", comment, required: false, errors: &errors)
                effects = try engine(definition: definition) { () throws(WorkflowError) in
                    try machine.withdraw(by: caller.uid, at: now, comment: comment)
                }
            case .revoke(let reason):
                var errors = FieldErrors()
                let reason = RequestValidation.comment("reason", reason, required: true, errors: &errors) ?? ""
                effects = try engine(definition: definition) { () throws(WorkflowError) in
                    try machine.revoke(by: decider, at: now, reason: reason)
                }
            }
        } catch let error as ServiceError where error.code == .forbidden {
            throw refusal(error)
        }
        try await record.update(
            machine: machine, expectedVersion: record.version, now: now, on: connection, logger: logger)
        record.version += 1
        record.updatedAt = now
        record.snapshot = machine.snapshot
        try await RequestRecord.insertDecisions(
            of: machine, after: previousDecisions, requestID: record.id, on: connection, logger: logger)
        let effectContext = EffectContext(
            requestID: record.id, number: record.number, kind: record.kind, dataset: dataset,
            requester: record.requester, clientAddress: caller.clientAddress, now: now)
        try await EffectWriter.apply(effects, context: effectContext, on: connection, logger: logger)
        logger.info(
            "request changed", metadata: ["command": "\(command.operation)", "request.state": "\(machine.state.name)"])
        return views.view(record, machine: machine, dataset: dataset, context: context, now: now)
    }

    static func forbidden(_ message: String, _ engineCode: String?) -> ServiceError {
        ServiceError(.forbidden, message: message, engineCode: engineCode)
    }

    /// Runs an engine call and maps its refusal to a `ServiceError`.
    func engine<Value>(
        definition: WorkflowDefinition? = nil, _ body: () throws(WorkflowError) -> Value
    ) throws(ServiceError) -> Value {
        do {
            return try body()
        } catch {
            throw Self.map(error, definition: definition)
        }
    }

    static func map(_ error: WorkflowError, definition: WorkflowDefinition?) -> ServiceError {
        let code = error.code.rawValue
        let details = error.description
        func forbidden(_ message: String) -> ServiceError {
            ServiceError(.forbidden, message: message, engineCode: code, details: details)
        }
        func invalid(_ fields: [String: String]) -> ServiceError {
            ServiceError(
                .validation, message: "Die Eingaben sind unvollständig oder ungültig.", fieldErrors: fields,
                engineCode: code, details: details)
        }
        switch error.code {
        case .invalidTransition:
            return ServiceError(
                .invalidState, message: "Das ist im aktuellen Stand des Antrags nicht möglich.", engineCode: code,
                details: details)
        case .notAuthorised:
            return forbidden("Sie sind für diesen Schritt nicht zuständig.")
        case .requesterCannotDecide:
            return forbidden("Über den eigenen Antrag können Sie nicht entscheiden.")
        case .notRequester:
            return forbidden("Das kann nur die antragstellende Person.")
        case .alreadyDecidedAnotherStep:
            return forbidden("Sie haben bereits über einen anderen Schritt dieses Antrags entschieden.")
        case .alreadyApproved:
            return forbidden("Sie haben diesem Schritt bereits zugestimmt.")
        case .deputyshipNotActive:
            return forbidden("Ihre Vertretung gilt zu diesem Zeitpunkt nicht.")
        case .reasonRequired:
            let field = error.event == .requestChanges ? "question" : "reason"
            return invalid([field: "Bitte begründen Sie Ihre Entscheidung."])
        case .approvalDetailsMissing:
            var fields: [String: String] = [:]
            for detail in error.details {
                switch detail {
                case "licence": fields["licence"] = "Bitte geben Sie die Lizenz an, unter der veröffentlicht wird."
                case "portal_url":
                    fields["portal_url"] = "Bitte geben Sie die Adresse (http oder https) des Datensatzes im Portal an."
                default: fields[detail] = "Bitte ergänzen Sie diese Angabe."
                }
            }
            return invalid(fields)
        case .submissionIncomplete:
            var fields: [String: String] = [:]
            for detail in error.details {
                let message = definition?.submitRequirements.first { $0.field.rawValue == detail }?.message.de
                fields[detail] = message ?? "Bitte ergänzen Sie diese Angabe."
            }
            return invalid(fields)
        case .invalidAccessPeriod:
            return invalid(["access_end": "Das Nutzungsende muss in der Zukunft liegen."])
        case .requestChangesNotAllowed:
            return invalid(["decision": "In diesem Schritt sind keine Rückfragen vorgesehen."])
        case .tooEarly:
            return ServiceError(
                .invalidState, message: "Dafür ist es noch zu früh.", engineCode: code, details: details)
        case .kindNotServed:
            return invalid(["kind": "Die Art der Freigabe kann nicht geändert werden."])
        case .definitionMismatch:
            return ServiceError.internal(details)
        case .unknownBranch:
            return invalid(["branch": "Diesen Zweig gibt es in diesem Schritt nicht."])
        }
    }
}

/// The input of `decide` as fingerprinted.
private struct DecideFingerprint: Encodable, Sendable {
    var decision: DecisionInput
    var branch: String?
}

/// Type erasure for fingerprinting.
struct AnyEncodable: Encodable {
    let value: any Encodable

    init(_ value: any Encodable) { self.value = value }

    func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
}
