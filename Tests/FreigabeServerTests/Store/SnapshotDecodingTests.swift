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

    @Test("a command's read does not fill the memory: its write stores a new text, the old one is not met again")
    func commandsDoNotRemember() async throws {
        try await ServiceFixture.with { fixture in
            // Snapshots hold no ids: a time of its own makes this request's text one no other test meets.
            let start = Clock.start.addingTimeInterval(Double.random(in: 1...86_000).rounded())
            let created = try await fixture.shared("baumkataster", at: start)
            func storedText() async throws -> String {
                var texts: [String] = []
                for try await text in try await fixture.admin.query(
                    "SELECT snapshot::text FROM requests WHERE id = \(created.id)", logger: StoreTestSupport.logger
                ).decode(String.self) { texts.append(text) }
                return try #require(texts.first)
            }
            let before = try await storedText()
            try await fixture.decide(created, by: People.otto, at: start.addingTimeInterval(86_400))
            #expect(try await storedText() != before, "the command wrote a new snapshot")
            #expect(!SnapshotDecoding.isRemembered(before), "the command's read was not kept")
            _ = try await fixture.service.request(
                id: created.id, caller: People.otto, now: start.addingTimeInterval(86_400),
                logger: StoreTestSupport.logger)
            #expect(SnapshotDecoding.isRemembered(try await storedText()), "a page read is kept")
        }
    }
}
