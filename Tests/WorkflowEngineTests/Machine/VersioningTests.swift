import Foundation
import Testing

@testable import WorkflowEngine

/// A request keeps the definition it started with; snapshots survive storage unchanged.
@Suite("Versioning and snapshots")
struct VersioningTests {
    typealias Fixtures = MachineFixtures

    static func version2() throws -> WorkflowDefinition {
        try Fixtures.sharedDataVariant(replacing: "version: 1", with: "version: 2")
    }

    @Test("a snapshot pinned to v1 refuses a definition whose content differs")
    func definitionMismatch() throws {
        let v1 = try Fixtures.definition(.sharedData)
        var machine = try Fixtures.submitted(v1, Fixtures.shared())
        _ = try machine.approve(by: Fixtures.otto, at: Fixtures.t0)
        #expect(machine.snapshot.pin == v1.pin)
        #expect(v1.pin.id == "shared-data" && v1.pin.version == 1 && v1.pin.contentHash.count == 64)

        // The same id and version, one comment more: another text, another hash.
        let edited = try Fixtures.parse(try Fixtures.text(of: .sharedData) + "\n# edited\n", file: "edited.yaml")
        #expect(edited.id == v1.id && edited.version == v1.version && edited.contentHash != v1.contentHash)
        for other in [edited, try Self.version2()] {
            do {
                _ = try RequestMachine(definition: other, calendar: Fixtures.calendar, snapshot: machine.snapshot)
                Issue.record("accepted \(other.pin) for a request pinned to \(v1.pin)")
            } catch {
                #expect(error.code == .definitionMismatch)
                #expect(error.state == "in_review:steward_review")
                #expect(error.details == ["request is pinned to \(v1.pin), got \(other.pin)"])
            }
        }
        let restored = try RequestMachine(definition: v1, calendar: Fixtures.calendar, snapshot: machine.snapshot)
        #expect(restored == machine)
    }

    @Test("the registry keeps v1 and v2 side by side; new requests get v2, requests in flight keep v1")
    func registry() throws {
        let v1 = try Fixtures.definition(.sharedData)
        let v2 = try Self.version2()
        let open = try Fixtures.definition(.openData)
        var registry = WorkflowRegistry()
        try registry.register(v1, file: "shared-data.yaml")
        try registry.register(open, file: "open-data.yaml")
        #expect(registry.current(for: .sharedData) == v1)
        var inFlight = try Fixtures.submitted(v1, Fixtures.shared())

        try registry.register(v2, file: "shared-data.yaml")
        #expect(registry.definitions.count == 3)
        #expect(registry.current(for: .sharedData) == v2)
        #expect(registry.current(for: .openData) == open)
        let pinned = try #require(registry.definition(for: inFlight.snapshot.pin))
        #expect(pinned == v1)
        var resumed = try RequestMachine(definition: pinned, calendar: Fixtures.calendar, snapshot: inFlight.snapshot)
        let expected = try inFlight.approve(by: Fixtures.otto, at: Fixtures.t0)
        #expect(try resumed.approve(by: Fixtures.otto, at: Fixtures.t0) == expected)
        #expect(resumed == inFlight)

        let fresh = try Fixtures.submitted(try #require(registry.current(for: .sharedData)), Fixtures.shared())
        #expect(fresh.snapshot.pin.version == 2)
    }

    @Test("registering the same id and version with other content fails; the identical text is fine")
    func duplicateVersion() throws {
        let v1 = try Fixtures.definition(.sharedData)
        var registry = WorkflowRegistry()
        try registry.register(v1)
        try registry.register(v1)
        #expect(registry.definitions.count == 1)
        let edited = try Fixtures.parse(try Fixtures.text(of: .sharedData) + "\n# edited\n", file: "edited.yaml")
        do {
            try registry.register(edited, file: "Workflows/shared-data.yaml", line: 4)
            Issue.record("registered a changed definition under the same version")
        } catch {
            #expect(error.problems.count == 1)
            #expect(error.problems.first?.file == "Workflows/shared-data.yaml")
            #expect(error.problems.first?.line == 4)
            #expect(error.problems.first?.message.contains("shared-data@1") == true)
        }
        #expect(registry.definitions == [v1])
    }

    /// Snapshots in interesting states: parallel approvals, a question, escalation, a deputy, Personalunion.
    static func interestingSnapshots() throws -> [RequestSnapshot] {
        var snapshots: [RequestSnapshot] = []
        var open = try Fixtures.submitted(try Fixtures.definition(.openData), Fixtures.open(.confidential, .anonymised))
        _ = try open.approve(by: Fixtures.sina, at: Fixtures.minutes(7))
        _ = try open.approve(by: Fixtures.dora, at: Fixtures.minutes(8), comment: "Anonymisierung plausibel – ✓")
        _ = try open.escalate(at: Fixtures.muchLater)
        snapshots.append(open.snapshot)
        _ = try open.requestChanges(by: Fixtures.ingo, at: Fixtures.muchLater, question: "Koordinaten \"gerundet\"?")
        snapshots.append(open.snapshot)

        var shared = try Fixtures.draft(try Fixtures.definition(.sharedData), Fixtures.shared(.confidential, .personal))
        snapshots.append(shared.snapshot)
        _ = try shared.submit(by: "anna", at: Fixtures.t0)
        _ = try shared.approve(by: Fixtures.paul, at: Fixtures.minutes(1))
        snapshots.append(shared.snapshot)
        try Fixtures.drive(&shared, to: "granted:granted", at: Fixtures.minutes(2))
        snapshots.append(shared.snapshot)
        _ = try shared.revoke(by: Fixtures.greta, at: Fixtures.days(20), reason: "Zweck entfallen")
        snapshots.append(shared.snapshot)
        return snapshots
    }

    @Test("snapshots round-trip through JSON unchanged, and the restored machine behaves the same")
    func jsonRoundTrip() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let snapshots = try Self.interestingSnapshots()
        #expect(snapshots.count == 6)
        for snapshot in snapshots {
            let data = try encoder.encode(snapshot)
            let decoded = try JSONDecoder().decode(RequestSnapshot.self, from: data)
            #expect(decoded == snapshot, "\(snapshot.state.name)")
            #expect(try encoder.encode(decoded) == data)
        }
        // A request in flight continues identically after storage.
        let inFlight = snapshots[0]
        let definition = try Fixtures.definition(.openData)
        var original = try RequestMachine(definition: definition, calendar: Fixtures.calendar, snapshot: inFlight)
        var restored = try RequestMachine(
            definition: definition, calendar: Fixtures.calendar,
            snapshot: try JSONDecoder().decode(RequestSnapshot.self, from: try encoder.encode(inFlight)))
        let a = try original.approve(by: Fixtures.ingo, at: Fixtures.muchLater)
        let b = try restored.approve(by: Fixtures.ingo, at: Fixtures.muchLater)
        #expect(a == b)
        #expect(original == restored)
    }
}
