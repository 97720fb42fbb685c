import Foundation
import Logging
import WorkflowEngine

/// What the form for a new request asks, for one dataset and kind, as the current workflow answers it.
///
/// The page shows a field the workflow requires, marked required with the workflow's own message; an
/// administrator who adds a `submit_requires` entry to the YAML sees the form follow.
public struct RequestForm: Sendable, Hashable {
    public var kind: ReleaseKind
    public var dataset: DatasetView
    public var workflowTitle: LocalizedText
    /// Fields the workflow demands before submission for this dataset (for some recipient, where the
    /// requirement depends on it), with the definition's message.
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
        var required: [RequirementField: LocalizedText] = [:]
        // A requirement may depend on the recipient the requester has not chosen yet: ask for each choice.
        let recipients: [Recipient?] = kind == .sharedData ? [nil] + Recipient.allCases.map { $0 } : [nil]
        for recipient in recipients {
            var facts = dataset.facts(kind: kind)
            facts.recipient = recipient
            for missing in definition.missingRequirements(facts: facts, accessEnd: nil, at: now)
            where required[missing.field] == nil {
                required[missing.field] = missing.message
            }
        }
        return RequestForm(kind: kind, dataset: dataset, workflowTitle: definition.title, required: required)
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
