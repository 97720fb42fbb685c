import Foundation
import LDAPDirectory

extension Caller {
    /// The service's caller for the person the directory authenticated on this request. Built anew on
    /// every call, so a role removed in LDAP stops working with the next request (after the directory
    /// cache's TTL).
    init(person: Person, clientAddress: String?) {
        self.init(
            uid: person.uid, displayName: person.displayName, mail: person.mail,
            roles: Set(person.roles), stewardDomains: Set(person.stewardDomains), groups: Set(person.groups),
            clientAddress: clientAddress)
    }
}

extension DirectoryFacts {
    init(person: Person) {
        self.init(
            roles: Set(person.roles), stewardDomains: Set(person.stewardDomains), groups: Set(person.groups))
    }
}

/// The directory facts of the people a deputy acts for, from LDAP (through the directory's cache), and
/// whether a group exists (asked anew each time).
///
/// An unknown user lends no role (nil); an unreachable directory throws, so the command fails closed
/// with 503 instead of deciding without the principal's roles.
public struct DirectoryPrincipalResolver: PrincipalResolver {
    let directory: LDAPDirectory

    public init(directory: LDAPDirectory) {
        self.directory = directory
    }

    public func entry(ofUID uid: String) async throws -> DirectoryEntry? {
        do {
            let person = try await directory.person(username: uid)
            return DirectoryEntry(uid: person.uid, facts: DirectoryFacts(person: person))
        } catch let error as LDAPDirectoryError
            where [.userNotFound, .invalidUsername, .ambiguousUser].contains(error.code)
        {
            // No single person: lends no role, owns no dataset (the directory logged the entry).
            return nil
        }
    }

    /// A DN the directory cannot read names no group (the catalogue's rules refuse most of them before).
    public func groupExists(dn: String) async throws -> Bool {
        do {
            return try await directory.groupExists(dn: dn)
        } catch let error as LDAPDirectoryError where error.code == .configuration {
            return false
        }
    }
}
