import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LDAPDirectory
import Logging
import Testing

@testable import FreigabeServer

@Suite("Login cache")
struct LoginCacheTests {
    let dora = Person(
        dn: "uid=dora,ou=people,dc=stadt,dc=example", uid: "dora", displayName: "Dora Dietz", roles: [.dsb])
    let start = ContinuousClock.now

    @Test("a remembered login answers only for the same password, and only until the TTL")
    func hitsAndMisses() async {
        let cache = LoginCache(ttl: .seconds(60))
        await cache.remember(username: "dora", password: "demo", person: dora, now: start)
        #expect(await cache.person(username: "dora", password: "demo", now: start + .seconds(1)) == dora)
        #expect(await cache.person(username: "DORA", password: "demo", now: start + .seconds(1)) == dora)
        #expect(await cache.person(username: "dora", password: "Demo", now: start + .seconds(1)) == nil)
        #expect(await cache.person(username: "dora", password: "", now: start + .seconds(1)) == nil)
        #expect(await cache.person(username: "anna", password: "demo", now: start + .seconds(1)) == nil)
        #expect(await cache.person(username: "dora", password: "demo", now: start + .seconds(60)) == nil)
    }

    @Test("forgetting drops the entry; a zero TTL remembers nothing; the table is bounded")
    func forgetAndBounds() async {
        let cache = LoginCache(ttl: .seconds(60), capacity: 10)
        await cache.remember(username: "dora", password: "demo", person: dora, now: start)
        await cache.forget(username: "Dora")
        #expect(await cache.person(username: "dora", password: "demo", now: start) == nil)
        let off = LoginCache(ttl: .zero)
        await off.remember(username: "dora", password: "demo", person: dora, now: start)
        #expect(await off.count == 0)
        for index in 0..<25 { await cache.remember(username: "u\(index)", password: "p", person: dora, now: start) }
        #expect(await cache.count <= 10)
    }

    @Test("the password is nowhere in the cache's memory image")
    func noPasswordStored() async {
        let cache = LoginCache()
        let password = "Sehr-Geheim-4711"
        await cache.remember(username: "dora", password: password, person: dora)
        var dump = ""
        Swift.dump(cache, to: &dump)
        #expect(!dump.contains(password))
    }

    @Test("a remembered login passes the authenticator without asking the directory")
    func authenticatorUsesCache() async throws {
        // The directory is unreachable: only the cache can let dora in, and a wrong password still fails.
        let directory = try LDAPDirectory(
            configuration: LDAPConfiguration(url: "ldap://127.0.0.1:1", baseDN: "dc=stadt,dc=example"),
            logger: Logger(label: "test"))
        let cache = LoginCache()
        await cache.remember(username: "dora", password: "demo", person: dora)
        var configuration = TestSupport.configuration
        configuration.directory = nil
        let router = buildRouter(
            configuration: configuration, renderer: try await TestSupport.makeRenderer(),
            authenticator: DirectoryAuthenticator(directory: directory, throttle: LoginThrottle(), cache: cache),
            logger: Logger(label: "test"))
        try await Application(router: router).test(.router) { client in
            let ok = try await client.execute(
                uri: "/api/v1/me", method: .get, headers: [.authorization: DirectoryFixtures.basic("dora")])
            #expect(ok.status == .ok)
            let wrong = try await client.execute(
                uri: "/api/v1/me", method: .get, headers: [.authorization: DirectoryFixtures.basic("dora", "falsch")])
            #expect(wrong.status == .serviceUnavailable)
        }
        await directory.shutdown()
    }
}
