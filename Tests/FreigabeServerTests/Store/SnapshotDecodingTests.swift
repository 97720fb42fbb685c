import Foundation
import Testing
import WorkflowEngine

@testable import FreigabeServer

@Suite("Snapshot decoding")
struct SnapshotDecodingTests {
    @Test("a remembered snapshot is the one its text decodes to; other bytes are decoded afresh; broken text throws")
    func remembersByExactText() async throws {
        try await ServiceFixture.with { fixture in
            let created = try await fixture.shared("baumkataster")
            var stored: [String] = []
            for try await text in try await fixture.admin.query(
                "SELECT snapshot::text FROM requests WHERE id = \(created.id)", logger: StoreTestSupport.logger
            ).decode(String.self) { stored.append(text) }
            let text = try #require(stored.first)
            let fresh = try StoredJSON.decode(RequestSnapshot.self, from: text)
            #expect(try SnapshotDecoding.decode(text) == fresh)
            #expect(try SnapshotDecoding.decode(text) == fresh, "the remembered one")
            // The same JSON with other bytes (a space) is another key; a changed value another snapshot.
            #expect(try SnapshotDecoding.decode(" " + text) == fresh)
            let rewritten = text.replacingOccurrences(of: "\"anna\"", with: "\"mallory\"")
            #expect(rewritten != text)
            #expect(try SnapshotDecoding.decode(rewritten).requester == "mallory")
            #expect(try SnapshotDecoding.decode(text).requester == "anna")
            #expect(throws: (any Error).self) { try SnapshotDecoding.decode("{\"corrupt\": true}") }
            #expect(throws: (any Error).self) { try SnapshotDecoding.decode(String(text.dropLast())) }
            #expect(SnapshotDecoding.remembered <= SnapshotDecoding.capacity)
        }
    }
}
