import Foundation

/// The people and groups a catalogue change names, checked against the directory before anything is
/// stored: a dataset's owner is a person, its owner group and a domain's steward group are groups.
/// Without this a mistyped uid or DN is saved, the owner's or the stewards' step of every request for
/// the dataset waits for nobody, nobody is told, and only the deadline's escalation finds out.
///
/// An owner is stored as the directory spells the uid (`Otto` → `otto`): the engine compares uids
/// exactly. The directory is asked once per person and group of a change (an import names the same
/// owners many times); a directory that does not answer throws, and nothing is stored.
struct CatalogReferences {
    let directory: any PrincipalResolver
    private var people: [String: String?] = [:]
    private var groups: [String: Bool] = [:]

    init(directory: any PrincipalResolver) {
        self.directory = directory
    }

    /// The dataset with its owner in the directory's spelling, and the problems by field.
    mutating func check(_ dataset: DatasetInput) async throws -> (DatasetInput, [CatalogRules.Problem]) {
        var checked = dataset
        var problems: [CatalogRules.Problem] = []
        if let owner = dataset.owner {
            if let spelling = try await person(owner) {
                checked.owner = spelling
            } else {
                problems.append(("owner", UserText("catalog.owner_not_in_directory", ["uid": .text(owner)])))
            }
        }
        if let group = dataset.ownerGroup, try await !isGroup(group) {
            problems.append(("owner_group", UserText("catalog.group_not_in_directory", ["dn": .text(group)])))
        }
        return (checked, problems)
    }

    /// The problems of a domain, by field.
    mutating func check(_ domain: DomainInput) async throws -> [CatalogRules.Problem] {
        guard try await !isGroup(domain.stewardGroup) else { return [] }
        return [("steward_group", UserText("catalog.group_not_in_directory", ["dn": .text(domain.stewardGroup)]))]
    }

    /// A catalogue file's entries checked: the document with the owners in the directory's spelling, and
    /// every problem with the line of its entry.
    mutating func check(_ document: CatalogDocument, file: String) async throws -> (CatalogDocument, [CatalogProblem]) {
        var checked = document
        var problems: [CatalogProblem] = []
        for entry in document.domainEntries {
            problems += try await check(entry.value).map {
                CatalogProblem(
                    file: file, line: entry.line, entry: .domain(id: entry.value.id), field: $0.field,
                    message: $0.message)
            }
        }
        for (index, entry) in document.datasetEntries.enumerated() {
            let (dataset, found) = try await check(entry.value)
            checked.datasetEntries[index].value = dataset
            problems += found.map {
                CatalogProblem(
                    file: file, line: entry.line, entry: .dataset(id: dataset.id), field: $0.field, message: $0.message)
            }
        }
        return (checked, problems)
    }

    /// The uid as the directory spells it; nil when it knows no such person.
    private mutating func person(_ uid: String) async throws -> String? {
        if let known = people[uid] { return known }
        let spelling = try await directory.entry(ofUID: uid)?.uid
        people[uid] = spelling
        return spelling
    }

    private mutating func isGroup(_ dn: String) async throws -> Bool {
        if let known = groups[dn] { return known }
        let exists = try await directory.groupExists(dn: dn)
        groups[dn] = exists
        return exists
    }
}
