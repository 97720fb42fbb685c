import Foundation

/// One audit event as the log commits to it: the leaf of the Merkle tree.
///
/// Everything an auditor filters on is here in the clear; everything personal beyond the acting uids
/// (names, comments, request texts) lives in the event's ``AuditPayload`` and is committed only by
/// ``payloadHash``, so that payloads can be erased after the retention period while the tree still
/// verifies. The uids stay: "who released which data" is the question the log exists to answer.
///
/// The server fills this from its `audit_events` rows; the kinds (event type, capacity, decision, ...)
/// are its enums' raw values, since this module depends on no other module of the project.
/// ``AuditEventEncoder`` turns it into bytes, format v1 (`FORMAT.md`).
public struct AuditEvent: Sendable, Hashable, Codable {
    /// The position in the log, from 0, without gaps: the Merkle leaf index.
    public var sequence: UInt64
    /// The event's own id, stable across exports.
    public var id: UUID
    /// When it happened.
    public var occurredAt: AuditTimestamp
    /// What happened: `submitted`, `approved`, `forbidden`, ...
    public var type: String
    /// The request it concerns, if any.
    public var requestID: UUID?
    /// uid of who acted; `nil` for the system (timers).
    public var actor: String?
    /// uid of the principal when the actor acted as deputy.
    public var actingFor: String?
    /// In which capacity the actor acted: `principal`, `deputy`, `escalation`, ...
    public var capacity: String?
    /// The role the actor acted in: `data_owner`, `dsb`, ...
    public var role: String?
    /// The workflow step the event belongs to.
    public var step: String?
    /// For decisions: `approved`, `rejected`, `changes_requested`, `revoked`, `discontinued`.
    public var decision: String?
    /// The dataset the request concerns.
    public var datasetID: String?
    /// The workflow definition, pinned by version, that the request follows.
    public var workflow: WorkflowReference?
    /// The request's state after the event.
    public var state: String?
    /// SHA-256 of the payload's canonical encoding (``AuditPayload/hash``).
    public var payloadHash: SHA256Hash

    public init(
        sequence: UInt64, id: UUID, occurredAt: AuditTimestamp, type: String, requestID: UUID? = nil,
        actor: String? = nil, actingFor: String? = nil, capacity: String? = nil, role: String? = nil,
        step: String? = nil, decision: String? = nil, datasetID: String? = nil, workflow: WorkflowReference? = nil,
        state: String? = nil, payloadHash: SHA256Hash
    ) {
        self.sequence = sequence
        self.id = id
        self.occurredAt = occurredAt
        self.type = type
        self.requestID = requestID
        self.actor = actor
        self.actingFor = actingFor
        self.capacity = capacity
        self.role = role
        self.step = step
        self.decision = decision
        self.datasetID = datasetID
        self.workflow = workflow
        self.state = state
        self.payloadHash = payloadHash
    }
}

/// A workflow definition at one version: requests pin the version they started with.
public struct WorkflowReference: Sendable, Hashable, Codable {
    public var id: String
    public var version: UInt32

    public init(id: String, version: UInt32) {
        self.id = id
        self.version = version
    }
}
