import Foundation
import Logging
import PostgresNIO
import WorkflowEngine

/// Who holds the owner's and the stewards' steps that open requests wait at, read before and after a
/// catalogue change, so that exactly the steps that changed hands are handed over: a new owner or
/// owner group of a dataset, a new steward group of its domain, or a move to a domain with other
/// stewards, in any combination within one import (a domain's new group and a dataset leaving it
/// are compared as the requests see them, not change by change).
struct WaitingHolders {
    struct Holders: Hashable {
        var step: String
        var holders: StepHolders
        var waitsForOwner: Bool
        var waitsForStewards: Bool
    }

    var byRequest: [UUID: Holders]

    /// The requests in review whose step waits for the Data Owner or the Data Stewards, of one dataset
    /// or of all.
    static func read(
        dataset: String? = nil, on connection: PostgresConnection, logger: Logger
    ) async throws
        -> WaitingHolders
    {
        let rows = try await connection.query(
            """
            SELECT r.id, r.current_step, d.owner, d.owner_group_key, dm.steward_group_key,
                   \(Role.dataOwner.identifier) = ANY (r.pending_roles),
                   \(Role.dataSteward.identifier) = ANY (r.pending_roles)
            FROM requests r JOIN datasets d ON d.id = r.dataset_id JOIN domains dm ON dm.id = d.domain_id
            WHERE r.phase = 'in_review' AND r.current_step IS NOT NULL
              AND r.pending_roles && \([Role.dataOwner.identifier, Role.dataSteward.identifier])::text[]
              AND (\(dataset)::text IS NULL OR d.id = \(dataset))
            """, logger: logger)
        var byRequest: [UUID: Holders] = [:]
        for try await (id, step, owner, ownerGroupKey, stewardGroupKey, waitsForOwner, waitsForStewards) in rows.decode(
            (UUID, String, String?, String?, String, Bool, Bool).self)
        {
            byRequest[id] = Holders(
                step: step,
                holders: StepHolders(owner: owner, ownerGroupKey: ownerGroupKey, stewardGroupKey: stewardGroupKey),
                waitsForOwner: waitsForOwner, waitsForStewards: waitsForStewards)
        }
        return WaitingHolders(byRequest: byRequest)
    }

    /// The handovers from `before` to these holders: a request still at the same step whose waiting
    /// role is now held by others.
    func handovers(since before: WaitingHolders) -> [(request: UUID, kind: TimerKind, step: String)] {
        var result: [(request: UUID, kind: TimerKind, step: String)] = []
        for (request, now) in byRequest.sorted(by: { $0.key.uuidString < $1.key.uuidString }) {
            guard let then = before.byRequest[request], then.step == now.step else { continue }
            if now.waitsForOwner && !now.holders.sameOwner(as: then.holders) {
                result.append((request, .newOwner, now.step))
            }
            if now.waitsForStewards && !now.holders.sameStewards(as: then.holders) {
                result.append((request, .newStewards, now.step))
            }
        }
        return result
    }

    /// How many requests now wait for someone else: each request whose waiting holder changed, once,
    /// however many of its holders and catalogue entries changed (what the administrator is told).
    func reassignedRequests(since before: WaitingHolders) -> Int {
        Set(handovers(since: before).map(\.request)).count
    }

    /// Schedules, due now, a `new_owner` or `new_stewards` timer per handover, unless one for that step
    /// still waits (two edits before the timer loop ran: one mail, to whoever holds the step when it
    /// fires). The server's timer loop fires it through the engine (`RequestMachine.tasks(heldBy:)`),
    /// which sends the new holders the step's task mail: so also after an import from the command line,
    /// which has no workflows loaded, and only if the step still waits then. The old holders' decision
    /// links stop working by themselves (they may no longer decide).
    func handOver(
        since before: WaitingHolders, now: Date, on connection: PostgresConnection, logger: Logger
    )
        async throws
    {
        let handovers = handovers(since: before)
        guard !handovers.isEmpty else { return }
        try await connection.query(
            """
            INSERT INTO timers (request_id, kind, step, due_at, created_at)
            SELECT h.request, h.kind, h.step, \(now), \(now)
            FROM unnest(\(handovers.map(\.request))::uuid[], \(handovers.map(\.kind.rawValue))::text[],
                        \(handovers.map(\.step))::text[]) AS h(request, kind, step)
            WHERE NOT EXISTS (
                SELECT 1 FROM timers t
                WHERE t.request_id = h.request AND t.kind = h.kind AND t.step = h.step
                  AND t.fired_at IS NULL AND t.cancelled_at IS NULL)
            """, logger: logger)
    }
}

/// Who holds a dataset's owner and steward steps, as the catalogue stores them: the owner's uid (as the
/// directory spells it) and group, the domain's steward group, each group by its DN key (a DN saved again
/// with other spaces or case is the same group). One rule tells a handover, for a catalogue change
/// (``WaitingHolders``) and for a task mail that waited while one happened (``RequestStanding``).
struct StepHolders: Sendable, Hashable {
    var owner: String?
    var ownerGroupKey: String?
    var stewardGroupKey: String

    func sameOwner(as other: StepHolders) -> Bool { (owner, ownerGroupKey) == (other.owner, other.ownerGroupKey) }

    /// A dataset moved to a domain of the same steward group is no handover.
    func sameStewards(as other: StepHolders) -> Bool { stewardGroupKey == other.stewardGroupKey }

    /// Whether `recipient`, as a task addressed it when it was written (from the same columns), still
    /// names these holders; any role but the owner's and the stewards' is no dataset's to hand over.
    func stillHold(_ recipient: OutboxRecipient) -> Bool {
        let group = recipient.group.map(DNKey.key)
        switch recipient.role {
        case Role.dataOwner.identifier:
            return sameOwner(as: StepHolders(owner: recipient.uid, ownerGroupKey: group, stewardGroupKey: ""))
        case Role.dataSteward.identifier:
            return sameStewards(as: StepHolders(owner: nil, ownerGroupKey: nil, stewardGroupKey: group ?? ""))
        default:
            return true
        }
    }
}

extension StepHolders {
    /// The holders `dataset` names.
    init(_ dataset: DatasetRecord) {
        self.init(owner: dataset.owner, ownerGroupKey: dataset.ownerGroupKey, stewardGroupKey: dataset.stewardGroupKey)
    }
}
