import Foundation
import Testing

@testable import AuditLog

/// The database verifier's fast path against the slow one: what ``StoredEventEncoder`` accepts must
/// have exactly the leaf hash ``AuditEventEncoder`` gives the same event with its ``AuditPayload``, and
/// whatever the slow path would read differently (ill-formed UTF-8, which a `String` repairs) or refuse
/// must get nil, never a leaf.
@Suite("Decision log: the database verifier's fast path")
struct StoredEventEncoderTests {
    /// An event as the server stores it: no workflow reference, payload of up to three fields.
    struct Row {
        var event: AuditEvent
        var salt: [UInt8]
        var fields: [(key: String, value: String)]

        var payload: AuditPayload { AuditPayload(salt: salt, fields: Dictionary(uniqueKeysWithValues: fields)) }

        /// The slow path: the leaf hash of the event with its payload's hash.
        var slowLeafHash: SHA256Hash {
            var event = event
            event.payloadHash = payload.hash
            return event.leafHash
        }

        static func make(_ sequence: UInt64) -> Row {
            let fixture = LogFixture.event(at: sequence).event
            var event = fixture
            event.workflow = nil
            if sequence % 3 == 0 { event.requestID = nil }
            if sequence % 4 == 0 { event.actor = nil }
            if sequence % 7 == 0 { event.state = nil }
            var fields: [(key: String, value: String)] = []
            if sequence % 2 == 0 { fields.append(("client_address", "192.0.2.\(sequence % 250)")) }
            if sequence % 5 != 0 { fields.append(("comment", "Begründung \(sequence): geprüft, Übermittlung ok.")) }
            fields.append(("details", #"{"request_number": "FG-2026-\#(sequence)"}"#))
            return Row(event: event, salt: (0..<16).map { UInt8(truncatingIfNeeded: sequence &+ $0) }, fields: fields)
        }
    }

    /// Fills the encoder from a row's texts (or from `bytes` for one text, to plant raw bytes).
    func leaf(
        _ row: Row, recorded: SHA256Hash? = nil, formatVersion: Int = 1, encoder: inout StoredEventEncoder,
        replacing field: String? = nil, with bytes: [UInt8] = []
    ) -> RecomputedLeaf? {
        encoder.reset()
        func text(_ name: String, _ value: String?) -> Range<Int>? {
            guard let value else { return nil }
            if name == field {
                let start = encoder.texts.count
                encoder.texts.append(contentsOf: bytes)
                return start..<encoder.texts.count
            }
            return encoder.append(value)
        }
        let event = row.event
        let saltStart = encoder.texts.count
        encoder.texts.append(contentsOf: row.salt)
        let salt = saltStart..<encoder.texts.count
        for (key, value) in row.fields {
            encoder.payloadFields.append((key: text("key:" + key, key)!, value: text(key, value)!))
        }
        let fields = StoredEventFields(
            sequence: event.sequence, id: event.id, occurredAt: event.occurredAt, type: text("type", event.type)!,
            requestID: event.requestID, actor: text("actor", event.actor),
            actingFor: text("actingFor", event.actingFor),
            capacity: text("capacity", event.capacity), role: text("role", event.role), step: text("step", event.step),
            decision: text("decision", event.decision), datasetID: text("datasetID", event.datasetID),
            state: text("state", event.state), salt: salt)
        return encoder.recomputedLeaf(
            of: fields, formatVersion: formatVersion, recorded: recorded ?? row.slowLeafHash)
    }

    @Test("500 events: the fast path gives the slow path's leaf hash for each")
    func agreesWithTheSlowPath() {
        var encoder = StoredEventEncoder()
        for sequence in 0..<UInt64(500) {
            let row = Row.make(sequence)
            let leaf = leaf(row, encoder: &encoder)
            #expect(leaf == RecomputedLeaf(sequence: sequence, leafHash: row.slowLeafHash), "event \(sequence)")
        }
    }

    @Test("a recorded hash that differs, or another format version, gives no leaf")
    func mismatchGivesNoLeaf() {
        var encoder = StoredEventEncoder()
        let row = Row.make(12)
        var other = row
        other.event.actor = "mallory"
        #expect(leaf(row, recorded: other.slowLeafHash, encoder: &encoder) == nil)
        #expect(leaf(row, recorded: SHA256Hash.empty, encoder: &encoder) == nil)
        for version in [0, 2, 255, 257, -1] {
            #expect(leaf(row, formatVersion: version, encoder: &encoder) == nil, "version \(version)")
        }
        #expect(leaf(row, encoder: &encoder) != nil)
    }

    @Test("every changed byte of every text changes the leaf: no leaf")
    func everyChangedByteIsRefused() {
        var encoder = StoredEventEncoder()
        let row = Row.make(10)
        let texts: [(String, String)] =
            [
                ("type", row.event.type), ("actor", row.event.actor!), ("role", row.event.role!),
                ("step", row.event.step!), ("datasetID", row.event.datasetID!), ("state", row.event.state!),
            ] + row.fields.map { ($0.key, $0.value) }
        var tried = 0
        for (name, value) in texts {
            let bytes = Array(value.utf8)
            for index in bytes.indices {
                for change: UInt8 in [0x01, 0x20] {
                    var changed = bytes
                    changed[index] ^= change
                    #expect(
                        leaf(row, encoder: &encoder, replacing: name, with: changed) == nil, "\(name) byte \(index)")
                    tried += 1
                }
            }
            // Cut short and lengthened.
            #expect(leaf(row, encoder: &encoder, replacing: name, with: Array(bytes.dropLast())) == nil)
            #expect(leaf(row, encoder: &encoder, replacing: name, with: bytes + [0x20]) == nil)
        }
        // Two changes of every byte of the six event texts and the payload's values (no comment in event 10).
        #expect(tried == 2 * texts.map { $0.1.utf8.count }.reduce(0, +))
        #expect(tried > 150)
    }

    /// Ill-formed UTF-8 reads as U+FFFD in the slow path's `String`: a leaf over the raw bytes would
    /// differ from what the slow path checks, so the fast path refuses even when the recorded hash was
    /// made over exactly those raw bytes (a forger's choice).
    @Test("ill-formed UTF-8 in any text goes the slow way, even when the recorded hash covers the raw bytes")
    func illFormedUTF8IsRefused() {
        var encoder = StoredEventEncoder()
        // Actor, comment, details and state present.
        let row = Row.make(9)
        let illFormed: [[UInt8]] = [
            [0x80], [0xC0, 0xAF], [0xC3], [0xE0, 0x80, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80],
            [0xF8, 0x88, 0x80, 0x80, 0x80], [0xFF], Array("Begr".utf8) + [0xFC] + Array("ndung".utf8),
        ]
        for bytes in illFormed {
            for field in ["actor", "comment", "details", "key:comment", "type", "state"] {
                // The hash a forger would record: the raw bytes encoded as they are.
                let forged = rawLeafHash(row, replacing: field, with: bytes)
                #expect(
                    leaf(row, recorded: forged, encoder: &encoder, replacing: field, with: bytes) == nil,
                    "\(field) \(bytes)")
            }
        }
        // Well-formed non-ASCII (umlauts, 3- and 4-byte sequences) takes the fast path.
        var german = row
        german.fields = [("comment", "Prüfung ✓ 𝄞 Ärger"), ("details", "{}")]
        #expect(leaf(german, encoder: &encoder)?.leafHash == german.slowLeafHash)
    }

    @Test("payload keys out of order or repeated go the slow way")
    func keyOrderIsChecked() {
        var encoder = StoredEventEncoder()
        var row = Row.make(4)
        #expect(row.fields.count == 3)
        row.fields.swapAt(0, 2)
        // Recorded over the fields in that order, as a forger would.
        #expect(leaf(row, recorded: rawLeafHash(row, replacing: nil, with: []), encoder: &encoder) == nil)
        #expect(leaf(row, recorded: row.slowLeafHash, encoder: &encoder) == nil)
        // A repeated key: the slow path's dictionary could not even hold it.
        var repeated = Row.make(4)
        repeated.fields = [("comment", "a"), ("comment", "b")]
        let forged = rawLeafHash(repeated, replacing: nil, with: [])
        #expect(leaf(repeated, recorded: forged, encoder: &encoder) == nil)
    }

    @Test("a salt longer than a payload can encode goes the slow way")
    func longSaltIsRefused() {
        var encoder = StoredEventEncoder()
        var row = Row.make(2)
        row.salt = Array(repeating: 7, count: 256)
        #expect(leaf(row, recorded: SHA256Hash.empty, encoder: &encoder) == nil)
        row.salt = Array(repeating: 7, count: 255)
        #expect(leaf(row, encoder: &encoder) != nil)
    }

    /// The leaf hash over the row's bytes as they are (with `bytes` for `field`), without any check: what a
    /// forger with the database owner's rights could record.
    func rawLeafHash(_ row: Row, replacing field: String?, with bytes: [UInt8]) -> SHA256Hash {
        func text(_ name: String, _ value: String) -> [UInt8] { name == field ? bytes : Array(value.utf8) }
        var payload = ByteWriter()
        payload.append(UInt8(1))
        payload.append(UInt8(row.salt.count))
        payload.bytes += row.salt
        payload.append(UInt32(row.fields.count))
        for (key, value) in row.fields {
            for part in [text("key:" + key, key), text(key, value)] {
                payload.append(UInt32(part.count))
                payload.bytes += part
            }
        }
        let payloadHash = SHA256Hash.digest(of: payload.bytes)
        let event = row.event
        var leaf = ByteWriter()
        leaf.append(UInt8(0))
        leaf.append(UInt8(1))
        leaf.append(event.sequence)
        leaf.append(event.id.uuid)
        leaf.append(event.occurredAt.microsecondsSinceEpoch)
        func string(_ name: String, _ value: String?) {
            guard let value else { return leaf.append(UInt8(0)) }
            if name != "type" { leaf.append(UInt8(1)) }
            let part = text(name, value)
            leaf.append(UInt32(part.count))
            leaf.bytes += part
        }
        string("type", event.type)
        if let requestID = event.requestID {
            leaf.append(UInt8(1))
            leaf.append(requestID.uuid)
        } else {
            leaf.append(UInt8(0))
        }
        string("actor", event.actor)
        string("actingFor", event.actingFor)
        string("capacity", event.capacity)
        string("role", event.role)
        string("step", event.step)
        string("decision", event.decision)
        string("datasetID", event.datasetID)
        leaf.append(UInt8(0))
        string("state", event.state)
        leaf.append(payloadHash)
        return SHA256Hash.digest(of: leaf.bytes)
    }

    @Test("the forger's raw hash is the slow path's hash when the bytes are well-formed (the helper is right)")
    func rawHashMatchesForWellFormedText() {
        for sequence in 0..<UInt64(20) {
            let row = Row.make(sequence)
            #expect(rawLeafHash(row, replacing: nil, with: []) == row.slowLeafHash)
        }
    }
}
