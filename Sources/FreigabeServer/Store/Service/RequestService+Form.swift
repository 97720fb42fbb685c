import Foundation
import Logging
import WorkflowEngine

/// What the form of a request asks, for one dataset and kind, as its workflow answers it: the one in
/// force for a new request or a draft, the pinned one for an answer to a question.
///
/// The page shows a field the workflow requires, marked required with the workflow's own message; an
/// administrator who adds a `submit_requires` entry to the YAML sees the form follow.
public struct RequestForm: Sendable, Hashable {
    public var kind: ReleaseKind
    public var dataset: DatasetView
    public var workflowTitle: LocalizedText
    /// Fields the workflow demands before submission for this dataset (for some answer of the requester,
    /// where the requirement depends on one), with the definition's message.
    public var required: [RequirementField: LocalizedText]
}

extension RequestService {
    /// The form for a new `kind` request of `datasetID`.
    ///
    /// - Throws: `notFound` for an unknown dataset, `validation` when no workflow serves `kind`.
    public func requestForm(
        kind: ReleaseKind, datasetID: String, now: Date, logger: Logger
    ) async throws(ServiceError) -> RequestForm {
        let dataset = try await dataset(id: datasetID, logger: logger)
        guard let definition = workflows.current(for: kind)?.definition else {
            throw ServiceError.validation(["kind": UserText("request.no_workflow")])
        }
        return RequestForm(
            kind: kind, dataset: dataset, workflowTitle: definition.title,
            required: definition.fieldsToAsk(catalogue: dataset.facts(kind: kind), at: now))
    }

    /// The form of a stored request, as the command it leads to checks it. A draft's is a new request's:
    /// it follows the workflow and the catalogue in force until it is submitted, unless the version in
    /// force is older than the one the draft was moved to (a workflow rolled back by removing its newer
    /// file): a draft never moves back (``newerDefinition(forDraft:)``), so its form, like its page and
    /// its submission, keeps the version it has. An answer to a question is
    /// checked against what the request was routed on, its pinned workflow and the facts in its snapshot
    /// (``ResubmitCommand``): its form asks for exactly that, whatever the catalogue or the workflow files
    /// say since (a dataset reclassified as personal would otherwise demand a legal basis the engine does
    /// not).
    ///
    /// - Parameter view: the request as the caller may see it (``request(id:caller:now:recording:branch:logger:)``).
    public func requestForm(of view: RequestView, now: Date, logger: Logger) async throws(ServiceError) -> RequestForm {
        let isDraft = view.status.phase == .draft
        let stored = try await guarded(logger) { logger in
            try await Database.read(client, logger: logger) { connection in
                try await RequestRecord.load(id: view.id, on: connection, logger: logger)
            }
        }
        guard let record = stored else { throw ServiceError.notFound() }
        if isDraft, newerDefinition(forDraft: record) != nil || workflows.current(for: view.kind) == nil {
            return try await requestForm(kind: view.kind, datasetID: view.dataset.id, now: now, logger: logger)
        }
        let facts: RequestFacts
        if isDraft {
            facts = try await dataset(id: view.dataset.id, logger: logger).facts(kind: view.kind)
        } else {
            facts = record.snapshot.facts
        }
        return try await guarded(logger) { logger in
            let definition = try await pinnedCache.definition(for: record.snapshot.pin, client: client, logger: logger)
            return RequestForm(
                kind: view.kind, dataset: view.dataset, workflowTitle: definition.title,
                required: definition.fieldsToAsk(catalogue: facts, at: now))
        }
    }

    /// What submitting `input` now would refuse, with nothing stored: the checks of ``createRequest`` with
    /// `submit` (the details' lengths and shape, the dataset, and what the workflow's `submit_requires`
    /// demands, asked of the engine). The summary before submitting asks this, so that it never shows a
    /// request the submission would refuse. The details as they would be stored.
    ///
    /// - Throws: `validation` with the field errors, `notFound` for an unknown dataset.
    public func checkSubmission(
        _ input: NewRequest, now: Date, logger: Logger
    ) async throws(ServiceError)
        -> RequestDetails
    {
        var errors = FieldErrors()
        let details = input.details.cleaned(kind: input.kind, errors: &errors)
        let dataset = try await dataset(id: input.datasetID.trimmingCharacters(in: .whitespaces), logger: logger)
        guard let definition = workflows.current(for: input.kind)?.definition else {
            throw ServiceError.validation(["kind": UserText("request.no_workflow")])
        }
        RequestValidation.completeness(
            details, kind: input.kind, catalogue: dataset.facts(kind: input.kind), definition: definition, now: now,
            errors: &errors)
        try errors.check()
        return details
    }
}
