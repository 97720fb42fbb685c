import AuditLog
import Foundation
import Testing
import WorkflowEngine

@testable import FreigabeServer

/// The details as the submission's audit event records them (`details.request`): written and read back
/// without loss, anything else refused, and compared with the stored row field by field. Pure.
@Suite("Request details in the decision log")
struct LoggedDetailsTests {
    static let check = OpenDataCheck(
        personalReference: CheckAnswer(applies: false), tradeSecrets: CheckAnswer(applies: false),
        thirdPartyRights: CheckAnswer(applies: true, note: "Lizenz des Vermessungsamts liegt vor."),
        security: CheckAnswer(applies: false), confidentiality: CheckAnswer(applies: false))

    static let shared = RequestDetails(
        purpose: #"Baumpflege "><img src=x onerror=alert(1)> „Zitat“ \ 🌳"#,
        recipient: RecipientInput(name: "Stadtwerke <b>GmbH</b>", type: .external),
        legalBasis: "Art. 6 Abs. 1 lit. e DSGVO", accessStart: Date(timeIntervalSince1970: 1_798_761_600.123456),
        accessEnd: Date(timeIntervalSince1970: 1_814_400_000))

    static let open = RequestDetails(
        purpose: "Open-Data-Portal", licence: "dl-de-zero-2.0", format: "CSV",
        anonymisationStatement: "Nur Summen je Bezirk.", openDataCheck: check)

    func object(_ details: RequestDetails, _ kind: ReleaseKind) throws -> [String: JSONValue] {
        guard case .object(let object) = details.logged(kind: kind) else { throw LoggedFormError() }
        return object
    }

    struct LoggedFormError: Error {}

    @Test("every field is named under its API name, an absent one as null, and reads back unchanged")
    func roundTrip() throws {
        for (details, kind) in [(Self.shared, ReleaseKind.sharedData), (Self.open, .openData)] {
            let logged = details.logged(kind: kind)
            let fields = try object(details, kind)
            #expect(Set(fields.keys) == Set(RequestDetails.Field.allCases.map(\.rawValue) + ["kind"]))
            #expect(fields["kind"] == .string(kind.rawValue))
            // Through the JSON text the log stores, and back.
            let text = try StoredJSON.encode(logged)
            let read = try #require(RequestDetails(logged: try StoredJSON.decode(JSONValue.self, from: text)))
            #expect(read.purpose == details.purpose)
            #expect(read.loggedMismatch(logged, kind: kind) == nil)
            #expect(details.loggedMismatch(try StoredJSON.decode(JSONValue.self, from: text), kind: kind) == nil)
        }
        let fields = try object(Self.shared, .sharedData)
        #expect(fields["access_start"] == .string("2027-01-01T00:00:00.123456Z"))
        #expect(fields["licence"] == .null)
        #expect(
            try object(Self.open, .openData)["open_data_check"]?.objectValue?["third_party_rights"]
                == .object(["applies": .bool(true), "note": .string("Lizenz des Vermessungsamts liegt vor.")]))
    }

    @Test("a field of the wrong type, an unknown recipient type, another date form or an incomplete check is refused")
    func hostileFormsAreRefused() throws {
        let valid = try object(Self.open, .openData)
        let shared = try object(Self.shared, .sharedData)
        var check = valid["open_data_check"]?.objectValue ?? [:]
        check.removeValue(forKey: "security")
        var extra = valid["open_data_check"]?.objectValue ?? [:]
        extra["security"] = .object(["applies": .string("nein"), "note": .null])
        let broken: [(String, [String: JSONValue])] = [
            ("purpose", valid.merging(["purpose": .number(1)]) { $1 }),
            ("no purpose", valid.filter { $0.key != "purpose" }),
            (
                "recipient type",
                shared.merging(["recipient": .object(["name": .string("X"), "type": .string("alien")])]) { $1 }
            ),
            ("recipient without name", shared.merging(["recipient": .object(["type": .string("internal")])]) { $1 }),
            ("day instead of instant", shared.merging(["access_end": .string("2027-06-30")]) { $1 }),
            ("offset", shared.merging(["access_end": .string("2027-06-30T00:00:00.000000+02:00")]) { $1 }),
            ("date as number", shared.merging(["access_end": .number(1_814_400_000)]) { $1 }),
            ("legal basis as array", shared.merging(["legal_basis": .array([])]) { $1 }),
            ("four answers", valid.merging(["open_data_check": .object(check)]) { $1 }),
            ("answer not a bool", valid.merging(["open_data_check": .object(extra)]) { $1 }),
        ]
        for (name, fields) in broken {
            #expect(RequestDetails(logged: .object(fields)) == nil, "\(name)")
        }
        #expect(RequestDetails(logged: .array([])) == nil)
        #expect(RequestDetails(logged: .string("{}")) == nil)
    }

    @Test("the row and the log agree within a microsecond; any other difference names the field, not its text")
    func mismatchNamesTheField() throws {
        let logged = Self.shared.logged(kind: .sharedData)
        var row = Self.shared
        row.accessStart = row.accessStart.map { $0.addingTimeInterval(0.000_000_9) }
        #expect(row.loggedMismatch(logged, kind: .sharedData) == nil, "the row's rounding")
        row.accessStart = Self.shared.accessStart.map { $0.addingTimeInterval(0.000_002) }
        #expect(row.loggedMismatch(logged, kind: .sharedData)?.contains("access_start") == true)

        row = Self.shared
        row.recipient?.name = "Datenhändler"
        let mismatch = try #require(row.loggedMismatch(logged, kind: .sharedData))
        #expect(mismatch.contains("recipient"))
        #expect(!mismatch.contains("Datenhändler"), "no text of the request in the server's log")
        #expect(Self.shared.loggedMismatch(logged, kind: .openData)?.contains("kind") == true)

        // A log entry without a field (an older version's) agrees only while the row has none either.
        var older = try object(Self.shared, .sharedData)
        older.removeValue(forKey: "format")
        #expect(Self.shared.loggedMismatch(.object(older), kind: .sharedData) == nil)
        row = Self.shared
        row.format = "CSV"
        #expect(row.loggedMismatch(.object(older), kind: .sharedData)?.contains("format") == true)
        #expect(Self.shared.loggedMismatch(.string("x"), kind: .sharedData) != nil)
    }
}

extension JSONValue {
    fileprivate var objectValue: [String: JSONValue]? {
        if case .object(let object) = self { object } else { nil }
    }
}
