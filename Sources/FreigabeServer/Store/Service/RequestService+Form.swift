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
}
