import Foundation
import Logging
import PostgresNIO
import WorkflowEngine

/// A refusal worth recording: the command's transaction is rolled back, then the event is written in a
/// transaction of its own, then `error` reaches the caller.
struct SecurityRefusal: Error {
    var error: ServiceError
    var event: AuditRow
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
                    "error": "\(String(reflecting: refusal.error))",
                ])
            throw refusal.error
        } catch {
            // Logged once, where it leaves the process's doors: the API's and the pages' error middleware
            // (under the reference the answer shows), the timer service, the command line.
            let mapped = Database.serviceError(from: error)
            logger.debug("store operation ended with an error", metadata: ["error": "\(String(reflecting: mapped))"])
            throw mapped
        }
    }

    /// One transaction around `body`, with the Idempotency-Key protocol when a key is given: a stored
    /// answer for the same key and input is returned without running `body`.
    func idempotent<Result: Codable & Sendable>(
        caller: Caller, key: String?, operation: String, requestID: UUID?, input: some Encodable, status: Int,
        now: Date, logger: Logger, _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        guard let key else { return try await Database.transaction(client, logger: logger, body) }
        let claim = try IdempotencyStore.Claim(
            caller: caller.uid, key: key, operation: operation, requestID: requestID, input: input, status: status,
            now: now)
        if let stored = try await claim.replay(Result.self, client: client, logger: logger) { return stored }
        return try await claim.run(client: client, logger: logger, body)
    }

    // MARK: Create

    func performCreate(
        _ input: NewRequest, caller: Caller, now: Date, key: String?, logger: Logger
    ) async throws
        -> RequestView
    {
        var errors = FieldErrors()
        let details = input.details.cleaned(kind: input.kind, errors: &errors)
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
                ? try await DatasetRecord.load(id: datasetID, holdersFixed: true, on: connection, logger: logger) : nil
            if dataset == nil { errors.add("dataset_id", UserText("request.dataset_unknown")) }
            guard let entry = workflows.current(for: input.kind) else {
                throw ServiceError.validation(["kind": UserText("request.no_workflow")])
            }
            if let dataset, input.submit {
                RequestValidation.completeness(
                    details, kind: input.kind, catalogue: dataset.facts(kind: input.kind), definition: entry.definition,
                    now: now, errors: &errors)
            }
            try errors.check()
            guard let dataset else { throw ServiceError.internal("dataset vanished") }

            try await Self.recordDefinition(entry, now: now, on: connection, logger: logger)
            let year = calendar.civilDate(of: now).year
            let numberRows = try await connection.query(
                "SELECT 'FG-' || \(String(year)) || '-' || lpad(nextval('request_number_seq')::text, 6, '0')",
                logger: logger)
            guard let number = try await numberRows.decode(String.self).first(where: { _ in true }) else {
                throw ServiceError.internal("no request number")
            }
            var record = RequestRecord(
                id: UUID(), number: number, kind: input.kind, datasetID: dataset.id, requester: caller.uid,
                details: details,
                snapshot: RequestSnapshot(
                    pin: entry.definition.pin, requester: caller.uid, facts: dataset.facts(kind: input.kind),
                    accessEnd: details.accessEnd),
                version: 1, createdAt: now, updatedAt: now, submittedAt: nil)
            record.snapshot = record.routedAsDraft(record.snapshot, dataset: dataset, definition: entry.definition)
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
                details: record.details, facts: machine.snapshot.facts, clientAddress: caller.clientAddress,
                channel: caller.channel, now: now, stepEnteredAt: machine.state.stepProgress?.enteredAt,
                webhookEvents: webhookEvents, definition: machine.definition)
            var write = CommandWrite(requestID: record.id, expectedVersion: record.version, request: nil, now: now)
            // Creating a draft is no transition of the workflow, but the log says who filed what, when.
            write.audit.append(
                AuditRow(
                    occurredAt: now, actor: caller.uid, requestID: record.id, datasetID: dataset.id, event: .created,
                    state: "draft", clientAddress: caller.clientAddress,
                    details: try StoredJSON.encode(["request_number": record.number, "kind": record.kind.rawValue])))
            EffectWriter.collect(effects, context: effectContext, into: &write)
            try await write.execute(on: connection, logger: logger)
            logger.info(
                "request created",
                metadata: [
                    "request.id": "\(record.id)", "request.number": "\(record.number)", "submitted": "\(input.submit)",
                ])
            return views.view(record, machine: machine, dataset: dataset, context: context, now: now)
        }
    }

    // MARK: Commands on a request

    /// The definition a draft follows instead of the one it is pinned to, or nil: a draft is not in
    /// flight, so it goes by the definition in force (the one its form shows) when another workflow now
    /// serves its kind or a higher version of its own was deployed. Never back to a lower one (an instance
    /// not yet updated in a rolling deployment must not undo what an updated one did). Its page shows it
    /// so (`machine(for:)`), and its next command moves it (`handleCommand`).
    func newerDefinition(forDraft record: RequestRecord) -> WorkflowLibrary.Entry? {
        guard case .draft = record.snapshot.state, let current = workflows.current(for: record.kind) else {
            return nil
        }
        let (now, pinned) = (current.definition.pin, record.snapshot.pin)
        return now.id != pinned.id || now.version > pinned.version ? current : nil
    }

    /// Stores the text of a definition a request is pinned to, once (`workflow_definitions`): requests
    /// keep following it after the file changes. Never a second text under a version requests already
    /// use (``WorkflowLibrary/EditedVersion``): the command is refused with 503 instead, and the error
    /// log names the file, as `/ready` does.
    static func recordDefinition(
        _ entry: WorkflowLibrary.Entry, now: Date, on connection: PostgresConnection, logger: Logger
    ) async throws {
        let pin = entry.definition.pin
        var binds = PostgresBindings()
        binds.append(pin.id)
        binds.append(Int32(pin.version))
        binds.append(pin.contentHash)
        binds.append(entry.source)
        binds.append(now)
        let sql = """
            WITH other AS (\(WorkflowLibrary.otherTextOnly("$1", "$2", "$3"))),
            stored AS (
                INSERT INTO workflow_definitions (workflow_id, version, content_hash, source, first_used_at)
                SELECT $1, $2, $3, $4, $5 WHERE NOT EXISTS (SELECT 1 FROM other)
                ON CONFLICT DO NOTHING)
            SELECT content_hash, first_used_at FROM other
            """
        let rows = try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
        guard let (hash, since) = try await rows.decode((String, Date).self).first(where: { _ in true }) else { return }
        let edited = WorkflowLibrary.EditedVersion(file: entry.file, pin: pin, storedHash: hash, storedSince: since)
        // Logged where the refusal is answered (with `details`).
        throw ServiceError(.unavailable, message: UserText("general.workflow_edited"), details: "\(edited)")
    }

    /// One command on an existing request: its input rules (the handler's `init`, before this) → read the
    /// request, its dataset and the caller's deputyships (one round trip, no lock) → visibility and
    /// version → the handler asks the engine → write everything in one statement that only takes effect
    /// if the request is still at the version read (one round trip, one commit) → answer. With an
    /// Idempotency-Key, a stored answer is replayed before anything else, and the key is stored in the
    /// same transaction as the write.
    func performCommand<Handler: RequestCommandHandler>(
        _ handler: Handler, requestID: UUID, caller: Caller, now: Date, expectedVersion: Int?, key: String?,
        logger: Logger
    ) async throws -> RequestView {
        let started = ContinuousClock.now
        do {
            let view = try await handleCommand(
                handler, requestID: requestID, caller: caller, now: now, expectedVersion: expectedVersion, key: key,
                logger: logger)
            metrics?.command(Handler.operation, outcome: "ok", duration: ContinuousClock.now - started)
            return view
        } catch {
            let outcome = (error as? SecurityRefusal)?.error.code ?? Database.serviceError(from: error).code
            metrics?.command(Handler.operation, outcome: outcome.rawValue, duration: ContinuousClock.now - started)
            throw error
        }
    }

    private func handleCommand<Handler: RequestCommandHandler>(
        _ handler: Handler, requestID: UUID, caller: Caller, now: Date, expectedVersion: Int?, key: String?,
        logger: Logger
    ) async throws -> RequestView {
        var logger = logger
        logger[metadataKey: "actor"] = "\(caller.uid)"
        logger[metadataKey: "request.id"] = "\(requestID)"
        let idempotency = try key.map {
            try IdempotencyStore.Claim(
                caller: caller.uid, key: $0, operation: Handler.operation, requestID: requestID,
                input: handler.fingerprint, status: 200, now: now)
        }
        if let idempotency, let stored = try await idempotency.replay(RequestView.self, client: client, logger: logger)
        {
            return stored
        }
        guard
            let subject = try await CommandSubject.load(
                id: requestID, deputy: caller.uid, now: now, client: client, logger: logger)
        else { throw ServiceError.notFound() }
        let context = try await CallerContext.resolve(
            caller: caller, deputyships: subject.deputyships, principals: principals)
        var record = subject.record
        let definition: WorkflowDefinition
        // A workflow deployed after a draft was saved decides what it lacks and where it goes.
        let newer = newerDefinition(forDraft: record)
        if let newer {
            definition = newer.definition
            record.snapshot.pin = newer.definition.pin
        } else {
            definition = try await pinnedCache.definition(for: record.snapshot.pin, client: client, logger: logger)
        }
        var request = CommandInProgress(
            record: record,
            machine: try engine(definition: definition) { [record] () throws(WorkflowError) in
                try RequestMachine(definition: definition, calendar: calendar, snapshot: record.snapshot)
            }, dataset: subject.dataset, definition: definition, context: context, calendar: calendar, now: now,
            textsErased: subject.textsErased)
        let effects = try apply(handler, to: &request, expectedVersion: expectedVersion)
        if let newer {
            // Stored once the caller was found to be the draft's requester, before the row points at it.
            try await Database.transaction(client, logger: logger, scope: .singleStatement) { [logger] connection in
                try await Self.recordDefinition(newer, now: now, on: connection, logger: logger)
            }
        }
        var columns = try RequestColumns(record: request.record, machine: request.machine)
        if request.textsErased, request.record.details.purpose != RequestValidation.erasedPurpose {
            // Its purpose stated anew (sent on, which asks for it, or a draft edited): no longer a request
            // whose texts were erased, so its page shows them, a later erasure takes them, and verify
            // compares them with the log again. Texts written beside the dash (a reason to close it, a
            // withdrawal's comment) keep the mark, and the next erasure takes them (migration 27).
            columns.clearsErasure = true
        }
        var write = CommandWrite(
            requestID: requestID, expectedVersion: subject.record.version,
            request: columns, holders: StepHolders(subject.dataset), now: now)
        for (position, decision) in request.machine.decisions.enumerated()
        where position >= subject.record.snapshot.decisions.count {
            write.decisions.append(DecisionRow(decision, position: position))
        }
        request.record.snapshot = request.machine.snapshot
        EffectWriter.collect(
            effects,
            context: EffectContext(
                requestID: requestID, number: request.record.number, kind: request.record.kind,
                dataset: subject.dataset, requester: request.record.requester, details: request.record.details,
                facts: request.record.snapshot.facts, clientAddress: caller.clientAddress,
                channel: caller.channel, now: now, stepEnteredAt: request.machine.state.stepProgress?.enteredAt,
                webhookEvents: webhookEvents, definition: request.machine.definition),
            into: &write)
        request.record.version += 1
        request.record.updatedAt = now
        let view = views.view(
            request.record, machine: request.machine, dataset: subject.dataset, context: context, now: now)
        if let idempotency {
            return try await idempotency.commit(view, client: client, logger: logger) { [write, logger] connection in
                try await write.execute(on: connection, logger: logger)
            }
        } else {
            let asked = ContinuousClock.now
            try await Database.transaction(client, logger: logger, scope: .singleStatement) {
                [metrics, write, logger] connection in
                metrics?.databaseWait(ContinuousClock.now - asked)
                try await write.execute(on: connection, logger: logger)
            }
        }
        for decision in write.decisions { metrics?.decision(decision.outcome) }
        logger.info(
            "request changed",
            metadata: ["command": "\(Handler.operation)", "request.state": "\(request.machine.state.name)"])
        return view
    }

    /// What every command checks before its handler runs (the caller may see the request; `If-Match`),
    /// then the handler; a `forbidden` from either becomes a refusal with a security event.
    private func apply<Handler: RequestCommandHandler>(
        _ handler: Handler, to request: inout CommandInProgress, expectedVersion: Int?
    ) throws -> [Effect] {
        let record = request.record
        func refusal(_ error: ServiceError, state: String) -> SecurityRefusal {
            SecurityRefusal(
                error: error,
                event: AuditRow(
                    occurredAt: request.now, actor: request.caller.uid, requestID: record.id,
                    datasetID: record.datasetID, event: .forbidden, state: state,
                    clientAddress: request.caller.clientAddress,
                    details: (try? StoredJSON.encode([
                        "command": Handler.operation, "engine_code": error.engineCode ?? "",
                        "reason": error.code.rawValue,
                    ])) ?? "{}"))
        }
        let state = request.machine.state.name
        guard request.context.maySee(request.machine, dataset: request.dataset, now: request.now) else {
            throw refusal(ServiceError.notFound(), state: state)
        }
        if let expectedVersion, expectedVersion != record.version {
            if let conflict = handler.conflict(in: request) { throw conflict }
            throw ServiceError.conflict("request \(record.id) is at version \(record.version), not \(expectedVersion)")
        }
        do {
            return try handler.apply(to: &request)
        } catch let error as ServiceError where error.code == .forbidden {
            throw refusal(error, state: state)
        }
    }

    /// 409 for a decision on a step that was decided meanwhile; `asked` hears "you" when it was theirs.
    static func alreadyDecided(_ decision: Decision, asked: String) -> ServiceError {
        // A discontinuation in its own words; by you, as someone's deputy, or by someone, alike.
        let key = decision.outcome == .discontinued ? "decision.already_discontinued" : "decision.already_decided"
        let (person, time): (UserText.Argument, UserText.Argument) = (.text(decision.person), .time(decision.at))
        let message =
            if decision.person == asked {
                UserText(key + "_by_you", ["time": time])
            } else if let principal = decision.actingFor {
                UserText(key + "_as_deputy", ["person": person, "principal": .text(principal), "time": time])
            } else {
                UserText(key, ["person": person, "time": time])
            }
        return ServiceError(
            .conflict, message: message,
            engineCode: "already_decided",
            details: "step \(decision.step) decided by \(decision.person) at \(decision.at)")
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
        func forbidden(_ key: String) -> ServiceError {
            ServiceError(.forbidden, message: UserText(key), engineCode: code, details: details)
        }
        func invalid(_ fields: [String: UserText]) -> ServiceError {
            ServiceError(
                .validation, message: UserText("general.input_invalid"), fieldErrors: fields, engineCode: code,
                details: details)
        }
        switch error.code {
        case .invalidTransition:
            return ServiceError(
                .invalidState, message: UserText("request.not_possible_now"), engineCode: code,
                details: details)
        case .notAuthorised:
            return forbidden("decision.not_authorised")
        case .requesterCannotDecide:
            return forbidden("decision.own_request")
        case .notRequester:
            return forbidden("decision.only_requester")
        case .alreadyDecidedAnotherStep:
            return forbidden("decision.decided_another_step")
        case .alreadyApproved:
            return forbidden("decision.already_approved")
        case .deputyshipNotActive:
            return forbidden("decision.deputyship_not_active")
        case .reasonRequired:
            let field = error.event == .requestChanges ? "question" : "reason"
            return invalid([field: UserText("decision.reason_missing")])
        case .approvalDetailsMissing:
            var fields: [String: UserText] = [:]
            for detail in error.details {
                switch detail {
                case "licence":
                    fields["licence"] = UserText(
                        "decision.licence_missing", ["allowed": .licences(CatalogRules.licences)])
                case "portal_url": fields["portal_url"] = UserText("decision.portal_url_missing")
                default: fields[detail] = UserText("field.complete_this")
                }
            }
            return invalid(fields)
        case .approvalDetailsNotAsked:
            var fields: [String: UserText] = [:]
            for detail in error.details { fields[detail] = UserText("decision.detail_not_asked") }
            return invalid(fields)
        case .submissionIncomplete:
            var fields: [String: UserText] = [:]
            for detail in error.details {
                let message = definition?.submitRequirements.first { $0.field.rawValue == detail }?.message
                fields[detail] = message.map { UserText(given: $0) } ?? UserText("field.complete_this")
            }
            return invalid(fields)
        case .invalidAccessPeriod where error.event == .approve:
            return invalid(["decision": UserText("decision.access_end_passed")])
        case .invalidAccessPeriod:
            return invalid(["access_end": UserText("request.access_end_past")])
        case .requestChangesNotAllowed:
            return invalid(["decision": UserText("decision.no_questions")])
        case .tooEarly where error.event == .discontinue:
            // The escalation instance is told from when: the deciders', or the requester's, time runs until then.
            return ServiceError(
                .invalidState,
                message: UserText("request.discontinue_too_early", ["time": .time(error.notBefore ?? .distantFuture)]),
                engineCode: code, details: details)
        case .tooEarly:
            return ServiceError(
                .invalidState, message: UserText("request.too_early"), engineCode: code, details: details)
        case .kindNotServed:
            return invalid(["kind": UserText("request.kind_fixed")])
        case .definitionMismatch:
            return ServiceError.internal(details)
        case .unknownBranch:
            return invalid(["branch": UserText("decision.unknown_branch")])
        }
    }
}

/// Type erasure for fingerprinting.
struct AnyEncodable: Encodable {
    let value: any Encodable

    init(_ value: any Encodable) { self.value = value }

    func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
}
