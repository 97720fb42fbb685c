import Foundation
import Logging
import PostgresNIO
import WorkflowEngine

/// A deputyship of the caller (as deputy), with the principal's directory facts.
struct DeputyContext: Sendable {
    var deputyship: Deputyship
    var principalFacts: DirectoryFacts
}

/// Who the caller is for one request: the engine's `Decider` and the facts for visibility.
struct CallerContext: Sendable {
    var caller: Caller {
        didSet { callerFacts = caller.directoryFacts }
    }
    var deputies: [DeputyContext]
    /// `caller.directoryFacts`, made once per command (with its group keys) rather than per role question.
    private(set) var callerFacts: DirectoryFacts

    init(caller: Caller, deputies: [DeputyContext]) {
        self.caller = caller
        self.deputies = deputies
        self.callerFacts = caller.directoryFacts
    }

    /// Engine roles a person with `facts` holds for `dataset` (Owner, Steward from the catalogue; the rest
    /// from LDAP).
    static func roles(uid: String, facts: DirectoryFacts, dataset: DatasetRecord) -> Set<Role> {
        var roles = directoryRoles(facts)
        let groupKeys = facts.groupKeys
        if dataset.owner == uid || dataset.ownerGroupKey.map(groupKeys.contains) == true { roles.insert(.dataOwner) }
        if facts.stewardDomains.contains(dataset.domain) || groupKeys.contains(dataset.stewardGroupKey) {
            roles.insert(.dataSteward)
        }
        return roles
    }

    /// Engine roles that come from LDAP alone, whatever the dataset.
    static func directoryRoles(_ facts: DirectoryFacts) -> Set<Role> {
        var roles: Set<Role> = []
        for role in facts.roles {
            switch role {
            case .dsb: roles.insert(.dsb)
            case .isb: roles.insert(.isb)
            case .openDataOfficer: roles.insert(.openDataOfficer)
            case .governance: roles.insert(.governance)
            case .auditor, .admin: break
            }
        }
        return roles
    }

    func decider(for dataset: DatasetRecord) -> Decider {
        Decider(
            person: caller.uid, roles: Self.roles(uid: caller.uid, facts: callerFacts, dataset: dataset),
            deputising: deputies.map {
                DeputyAuthority(
                    deputyship: $0.deputyship,
                    principalRoles: Self.roles(uid: $0.deputyship.principal, facts: $0.principalFacts, dataset: dataset)
                )
            })
    }

    /// Principals the caller deputises for at `now`.
    func activePrincipals(at now: Date) -> [DeputyContext] { deputies.filter { $0.deputyship.isActive(at: now) } }

    /// Whether the caller may see the request. The rule (README "Wer sieht welchen Antrag", openapi.yaml):
    /// the requester; auditors and administrators; the dataset's owner and the stewards of its domain;
    /// whoever decided on it, or whose deputy did; holders of a role whose step or branch applies to the
    /// request (a DSB sees Shared Data only where the privacy step applies) and of the escalation role of
    /// such a step; and the active deputies of all of these. Who may revoke is no reason to see: a DSB
    /// revokes only what their step applied to.
    func maySee(_ machine: RequestMachine, dataset: DatasetRecord, now: Date) -> Bool {
        holdsOffice || isConcerned(machine, dataset: dataset, now: now)
    }

    /// Whether the caller sees the request only as auditor or administrator, not because it concerns
    /// them: such a reading is logged (`audit_read`) like every view of the auditors' pages.
    func seesOnlyByOffice(_ machine: RequestMachine, dataset: DatasetRecord, now: Date) -> Bool {
        holdsOffice && !isConcerned(machine, dataset: dataset, now: now)
    }

    private var holdsOffice: Bool { caller.roles.contains(.auditor) || caller.roles.contains(.admin) }

    /// Everyone of ``maySee(_:dataset:now:)`` except the auditors and administrators.
    private func isConcerned(_ machine: RequestMachine, dataset: DatasetRecord, now: Date) -> Bool {
        if machine.snapshot.requester == caller.uid { return true }
        let concerned = machine.applyingRoles().union(machine.escalationRoles())
        func concerns(uid: String, facts: DirectoryFacts) -> Bool {
            let roles = Self.roles(uid: uid, facts: facts, dataset: dataset)
            if roles.contains(.dataOwner) || roles.contains(.dataSteward) { return true }
            if machine.decisions.contains(where: { $0.person == uid || $0.actingFor == uid }) { return true }
            return !roles.isDisjoint(with: concerned)
        }
        if concerns(uid: caller.uid, facts: callerFacts) { return true }
        return activePrincipals(at: now).contains {
            concerns(uid: $0.deputyship.principal, facts: $0.principalFacts)
        }
    }

    /// In which capacity the caller could decide the current step now (or its branch `branch`), if at
    /// all (the engine's answer).
    func authority(
        _ machine: RequestMachine, dataset: DatasetRecord, now: Date, branch: String? = nil
    ) -> DecisionAuthority? {
        try? machine.authority(of: decider(for: dataset), at: now, branch: branch).get()
    }

    func mayRevoke(_ machine: RequestMachine, dataset: DatasetRecord, now: Date) -> Bool {
        revokeAuthority(machine, dataset: dataset, now: now) != nil
    }

    /// In which capacity the caller could revoke the granted request now, if at all (the engine's answer).
    func revokeAuthority(_ machine: RequestMachine, dataset: DatasetRecord, now: Date) -> DecisionAuthority? {
        try? machine.revokeAuthority(of: decider(for: dataset), at: now).get()
    }

    /// In which capacity the caller could close the waiting request now, if at all (the engine's answer).
    func discontinueAuthority(_ machine: RequestMachine, dataset: DatasetRecord, now: Date) -> DecisionAuthority? {
        guard machine.state.stepProgress != nil else { return nil }
        return try? machine.discontinueAuthority(of: decider(for: dataset), at: now).get()
    }

    /// Loads the caller's deputyships (as deputy) that can still matter, and the principals' facts.
    /// Runs before any transaction: the directory may be slow, and no row is locked meanwhile.
    static func load(
        caller: Caller, now: Date, client: PostgresClient, principals: any PrincipalResolver, logger: Logger
    ) async throws -> CallerContext {
        var sql = StatementBuilder()
        sql.text =
            "SELECT "
            + RelevantDeputyships.subquery(
                deputy: try sql.bind(caller.uid), cutoff: try sql.bind(RelevantDeputyships.cutoff(now)))
        let query = sql.query
        let deputyships = try await Database.read(client, logger: logger) { connection in
            var deputyships: [Deputyship] = []
            for try await json in try await connection.query(query, logger: logger).decode(String.self) {
                deputyships = try RelevantDeputyships.decode(json, deputy: caller.uid)
            }
            return deputyships
        }
        return try await resolve(caller: caller, deputyships: deputyships, principals: principals)
    }

    /// The caller with the directory facts of the principals of `deputyships`. A principal the directory
    /// no longer knows (someone who left) lends their deputy nothing, not even the Data Owner role the
    /// catalogue may still name them for.
    static func resolve(
        caller: Caller, deputyships: [Deputyship], principals: any PrincipalResolver
    ) async throws -> CallerContext {
        var facts: [String: DirectoryFacts] = [:]
        for principal in Set(deputyships.map(\.principal)) {
            do {
                facts[principal] = try await principals.entry(ofUID: principal)?.facts
            } catch {
                throw ServiceError.directoryUnavailable("directory lookup of principal \(principal) failed: \(error)")
            }
        }
        return CallerContext(
            caller: caller,
            deputies: deputyships.compactMap { deputyship in
                facts[deputyship.principal].map { DeputyContext(deputyship: deputyship, principalFacts: $0) }
            })
    }
}
