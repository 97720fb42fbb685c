import Foundation
import LDAPDirectory
import Synchronization
import Testing
import WorkflowEngine

@testable import FreigabeServer

/// The pages keep who holds a role for a short time (``RoleHoldersCache``): the directory stays the
/// source, a changed catalogue or deputyship shows at once, a changed group after the TTL.
@Suite("Web: role holders kept for a short time", .serialized)
struct WebRoleHoldersCacheTests {
    /// A clock the test moves by hand.
    final class Ticks: Sendable {
        private let base = ContinuousClock.now
        private let offset = Mutex<Duration>(.zero)

        func now() -> ContinuousClock.Instant { base + offset.withLock { $0 } }
        func advance(_ duration: Duration) { offset.withLock { $0 += duration } }
    }

    static func person(_ uid: String) -> MailPerson {
        MailPerson(uid: uid, displayName: uid.capitalized, mail: uid + "@stadt.example", language: "de")
    }

    @Test("kept within the TTL, asked again after it; a failed answer is not kept")
    func keptThenAskedAgain() async throws {
        let ticks = Ticks()
        let cache = RoleHoldersCache(ttl: .seconds(30), now: { ticks.now() })
        let asked = Mutex(0)
        let key = RoleHoldersCache.Key(role: "data_owner", owner: "otto", ownerGroup: nil, domain: "umwelt")
        let answer = Mutex([Self.person("otto")])
        func ask() async throws -> [String] {
            try await cache.people(for: key) {
                asked.withLock { $0 += 1 }
                return answer.withLock { $0 }
            }.map(\.uid)
        }
        #expect(try await ask() == ["otto"])
        answer.withLock { $0 = [Self.person("volker")] }
        ticks.advance(.seconds(29))
        #expect(try await ask() == ["otto"], "kept within the TTL")
        #expect(asked.withLock { $0 } == 1)
        ticks.advance(.seconds(1))
        #expect(try await ask() == ["volker"], "asked again at the TTL")
        #expect(asked.withLock { $0 } == 2)

        // The directory fails: nothing is kept, the next page asks again.
        ticks.advance(.seconds(31))
        await #expect(throws: LDAPDirectoryError.self) {
            _ = try await cache.people(for: key) { throw LDAPDirectoryError(code: .timeout, message: "slapd is slow") }
        }
        answer.withLock { $0 = [Self.person("sina")] }
        #expect(try await ask() == ["sina"])
        #expect(asked.withLock { $0 } == 3)
    }

    @Test("hostile uids and DNs get entries of their own; the cache never outgrows its capacity")
    func hostileKeysAndCapacity() async throws {
        let cache = RoleHoldersCache(ttl: .seconds(30), capacity: 3)
        let keys = [
            RoleHoldersCache.Key(role: "data_owner", owner: "a|b", ownerGroup: nil, domain: "d"),
            RoleHoldersCache.Key(role: "data_owner|a", owner: "b", ownerGroup: nil, domain: "d"),
            RoleHoldersCache.Key(role: "data_owner", owner: nil, ownerGroup: "a|b", domain: "d"),
        ]
        #expect(Set(keys).count == keys.count)
        for (index, key) in keys.enumerated() {
            _ = try await cache.people(for: key) { [Self.person("p\(index)")] }
        }
        for (index, key) in keys.enumerated() {
            let kept = try await cache.people(for: key) { [Self.person("other")] }
            #expect(kept.map(\.uid) == ["p\(index)"], "\(key)")
        }
        // Names a hostile catalogue could hold: each its own entry, never someone else's answer.
        let hostile = ["*)(uid=*", "otto\u{0}", "<script>alert(1)</script>", String(repeating: "x", count: 10_000)]
        for (index, owner) in hostile.enumerated() {
            let key = RoleHoldersCache.Key(role: "data_owner", owner: owner, ownerGroup: nil, domain: "d")
            let people = try await cache.people(for: key) { [Self.person("h\(index)")] }
            #expect(people.map(\.uid) == ["h\(index)"])
            #expect(cache.count <= 3)
        }
    }

    @Test("a member added to the owning group in the directory is named after the TTL, a new owner at once")
    func directoryChangeSeenAfterTTL() async throws {
        try await ServiceFixture.with { store in
            let directory = try LDAPDirectory(
                configuration: try DemoDirectory.configuration(), logger: APITestSupport.logger)
            let first = try TestPeople.add("halter")
            let second = try TestPeople.add("neu")
            let name = "test-halter-\(UUID().uuidString.prefix(8).lowercased())"
            let group = "cn=\(name),ou=groups,dc=stadt,dc=example"
            func member(_ uid: String) -> String { "member: uid=\(uid),ou=people,dc=stadt,dc=example" }
            do {
                try TestPeople.modify(
                    "dn: \(group)\nchangetype: add\nobjectClass: groupOfNames\ncn: \(name)\n\(member(first))\n")
                let service = RequestService(
                    client: store.app, workflows: StoreTestSupport.workflows, calendar: StoreTestSupport.calendar,
                    principals: DirectoryPrincipalResolver(directory: directory))
                _ = try await service.upsertDataset(
                    DatasetInput(
                        id: "gruppendaten", title: "Gruppendaten", description: "", domain: "umwelt", owner: nil,
                        ownerGroup: group, classification: .internal, personalData: .none, protectionNeed: .normal,
                        licence: nil, highValue: false, formats: []),
                    caller: People.adam, now: Clock.start, logger: store.logger)
                let view = try await store.shared("gruppendaten")
                #expect(view.status.waitingFor == ["data_owner"])
                let ticks = Ticks()
                let lookup = ActingPeopleLookup(
                    directory: directory, service: service, holders: RoleHoldersCache(now: { ticks.now() }))
                func named(_ dataset: DatasetView) async -> [String]? {
                    await lookup.people(for: view.status, dataset: dataset, now: Clock.start, logger: store.logger)?
                        .byRole["data_owner"]?.map(\.uid).sorted()
                }
                #expect(await named(view.dataset) == [first])

                try TestPeople.modify("dn: \(group)\nchangetype: modify\nadd: member\n\(member(second))\n")
                ticks.advance(.seconds(29))
                #expect(await named(view.dataset) == [first], "kept within the TTL")
                ticks.advance(.seconds(2))
                #expect(await named(view.dataset) == [first, second].sorted(), "the directory is asked again")

                // The catalogue names a person as owner now: part of the key, so seen at once.
                _ = try await service.upsertDataset(
                    DatasetInput(
                        id: "gruppendaten", title: "Gruppendaten", description: "", domain: "umwelt", owner: "otto",
                        ownerGroup: nil, classification: .internal, personalData: .none, protectionNeed: .normal,
                        licence: nil, highValue: false, formats: []),
                    caller: People.adam, now: Clock.start, logger: store.logger)
                let reread = try await service.request(
                    id: view.id, caller: People.adam, now: Clock.start, logger: store.logger)
                #expect(await named(reread.dataset) == ["otto"])
            } catch {
                try? TestPeople.modify("dn: \(group)\nchangetype: delete\n")
                TestPeople.remove([first, second])
                await directory.shutdown()
                throw error
            }
            try? TestPeople.modify("dn: \(group)\nchangetype: delete\n")
            TestPeople.remove([first, second])
            await directory.shutdown()
        }
    }

    @Test("the request page names a new owner from the catalogue and a new deputy at once")
    func pageSeesChangesAtOnce() async throws {
        try await WebFixture.with { fixture, client in
            let request = try await fixture.store.submittedRequest()
            let anna = Browser(client)
            try await anna.login("anna")
            let before = try await anna.get("/antraege/\(request.id.uuidString)")
            #expect(before.html.contains("(Otto Oberle)."))
            #expect(!before.html.contains("Paul Peters"))

            _ = try await fixture.service.createDeputyship(
                NewDeputyship(principal: nil, deputy: "paul", validFrom: Clock.start, validUntil: Clock.days(30)),
                caller: People.otto, now: Clock.start, logger: fixture.store.logger)
            let deputy = try await anna.get("/antraege/\(request.id.uuidString)")
            #expect(deputy.html.contains("Vertretung: Paul Peters"), "deputyships are read on every page")

            let dataset = request.dataset
            _ = try await fixture.service.upsertDataset(
                DatasetInput(
                    id: dataset.id, title: dataset.title, description: dataset.description, domain: dataset.domain,
                    owner: "volker", ownerGroup: nil, classification: dataset.classification,
                    personalData: dataset.personalData, protectionNeed: dataset.protectionNeed,
                    licence: dataset.licence, highValue: dataset.highValue, formats: dataset.formats),
                caller: People.adam, now: Clock.start, logger: fixture.store.logger)
            let after = try await anna.get("/antraege/\(request.id.uuidString)")
            #expect(after.html.contains("(Volker Vogt)."), "the catalogue's owner is part of the key")
            #expect(!after.html.contains("Otto Oberle"))
        }
    }
}
