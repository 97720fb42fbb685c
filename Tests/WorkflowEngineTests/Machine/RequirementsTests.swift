import Foundation
import Testing

@testable import WorkflowEngine

/// What a request and a decision must contain.
@Suite("Submission requirements, approval details and reasons")
struct RequirementsTests {
    typealias Fixtures = MachineFixtures

    @Test("Shared Data needs an access end, and a legal basis from pseudonymised data on")
    func sharedSubmission() throws {
        let definition = try Fixtures.definition(.sharedData)
        var noEnd = try Fixtures.draft(definition, Fixtures.shared(), accessEnd: nil)
        Fixtures.expectRefused(.submissionIncomplete, .submit, details: ["access_end"], on: &noEnd) {
            try $0.submit(by: "anna", at: Fixtures.t0)
        }
        for category in PersonalDataCategory.allCases {
            var machine = try Fixtures.draft(definition, Fixtures.shared(.internal, category, legalBasis: false))
            if category >= .pseudonymised {
                Fixtures.expectRefused(.submissionIncomplete, .submit, details: ["legal_basis"], on: &machine) {
                    try $0.submit(by: "anna", at: Fixtures.t0)
                }
            } else {
                _ = try machine.submit(by: "anna", at: Fixtures.t0)
                #expect(machine.state.name == "in_review:owner_review", "\(category)")
            }
        }
        var neither = try Fixtures.draft(
            definition, Fixtures.shared(.internal, .personal, legalBasis: false), accessEnd: nil)
        Fixtures.expectRefused(.submissionIncomplete, .submit, details: ["access_end", "legal_basis"], on: &neither) {
            try $0.submit(by: "anna", at: Fixtures.t0)
        }
    }

    @Test("Shared Data needs a recipient, and an access end after the submission")
    func recipientAndAccessPeriod() throws {
        let definition = try Fixtures.definition(.sharedData)
        var noRecipient = try Fixtures.draft(definition, Fixtures.shared(recipient: nil))
        Fixtures.expectRefused(.submissionIncomplete, .submit, details: ["recipient"], on: &noRecipient) {
            try $0.submit(by: "anna", at: Fixtures.t0)
        }
        var endsBefore = try Fixtures.draft(definition, Fixtures.shared(), accessEnd: Fixtures.t0)
        let error = Fixtures.expectRefused(
            .invalidAccessPeriod, .submit, details: ["access_end \(Fixtures.t0) is not after \(Fixtures.t0)"],
            on: &endsBefore
        ) {
            try $0.submit(by: "anna", at: Fixtures.t0)
        }
        #expect(error?.state == "draft")
    }

    @Test(
        "Open Data of data that was ever personal needs an anonymisation statement",
        arguments: PersonalDataCategory.allCases)
    func anonymisationStatement(_ category: PersonalDataCategory) throws {
        let definition = try Fixtures.definition(.openData)
        var without = try Fixtures.draft(definition, Fixtures.open(.public, category, statement: false))
        if category >= .anonymised {
            Fixtures.expectRefused(.submissionIncomplete, .submit, details: ["anonymisation_statement"], on: &without) {
                try $0.submit(by: "anna", at: Fixtures.t0)
            }
        } else {
            _ = try without.submit(by: "anna", at: Fixtures.t0)
            #expect(without.state.name == "in_review:owner_review")
        }
        var with = try Fixtures.draft(definition, Fixtures.open(.public, category, statement: true))
        _ = try with.submit(by: "anna", at: Fixtures.t0)
        #expect(with.state.name == "in_review:owner_review")
    }

    struct DetailsCase: Sendable, CustomTestStringConvertible {
        let licence: String?
        let portalURL: String?
        let missing: [String]
        var testDescription: String { "licence \(licence ?? "nil"), url \(portalURL ?? "nil")" }
    }

    static let detailsCases: [DetailsCase] = [
        DetailsCase(licence: nil, portalURL: nil, missing: ["licence", "portal_url"]),
        DetailsCase(licence: "cc-by-4.0", portalURL: nil, missing: ["portal_url"]),
        DetailsCase(licence: nil, portalURL: "https://opendata.stadt.example/d/1", missing: ["licence"]),
        DetailsCase(licence: "  \n", portalURL: "https://opendata.stadt.example/d/1", missing: ["licence"]),
        DetailsCase(licence: "cc-by-4.0", portalURL: "javascript:alert(1)", missing: ["portal_url"]),
        DetailsCase(licence: "cc-by-4.0", portalURL: "ftp://opendata.stadt.example/d/1", missing: ["portal_url"]),
        DetailsCase(licence: "cc-by-4.0", portalURL: "https://", missing: ["portal_url"]),
        DetailsCase(licence: "cc-by-4.0", portalURL: "opendata.stadt.example/d/1", missing: ["portal_url"]),
        DetailsCase(licence: "cc-by-4.0", portalURL: "   ", missing: ["portal_url"]),
        DetailsCase(licence: "cc-by-4.0", portalURL: "data:text/html,<b>x</b>", missing: ["portal_url"]),
        DetailsCase(licence: "dl-de-zero-2.0", portalURL: "https://opendata.stadt.example/d/1", missing: []),
        DetailsCase(licence: "cc0-1.0", portalURL: "https://www.govdata.de/web/guest/suchen/-/details/x", missing: []),
        // One of the open licences, by its identifier or a name of it; another licence would publish none.
        DetailsCase(licence: "dl-de/zero-2-0", portalURL: "https://opendata.stadt.example/d/1", missing: []),
        DetailsCase(
            licence: "Creative Commons Namensnennung 4.0 International (CC BY 4.0)",
            portalURL: "https://opendata.stadt.example/d/1", missing: []),
        DetailsCase(
            licence: "CC BY 4.0 oder so", portalURL: "https://opendata.stadt.example/d/1", missing: ["licence"]),
        DetailsCase(licence: "CC-BY-SA-4.0", portalURL: "https://opendata.stadt.example/d/1", missing: ["licence"]),
        DetailsCase(licence: "MIT", portalURL: "https://opendata.stadt.example/d/1", missing: ["licence"]),
        // https on a public name only: the address goes into the public catalogue and every mail.
        DetailsCase(licence: "cc0-1.0", portalURL: "http://opendata.stadt.example/d/1", missing: ["portal_url"]),
        DetailsCase(
            licence: "cc0-1.0", portalURL: "https://user:geheim@opendata.stadt.example/d/1", missing: ["portal_url"]),
        DetailsCase(licence: "cc0-1.0", portalURL: "https://user@opendata.stadt.example/d/1", missing: ["portal_url"]),
        DetailsCase(licence: "cc0-1.0", portalURL: "https://127.0.0.1/d/1", missing: ["portal_url"]),
        DetailsCase(licence: "cc0-1.0", portalURL: "https://10.0.0.5/d/1", missing: ["portal_url"]),
        DetailsCase(licence: "cc0-1.0", portalURL: "https://[::1]/d/1", missing: ["portal_url"]),
        // A last label that is a number makes the host an IPv4 address to browsers (WHATWG URL).
        DetailsCase(licence: "cc0-1.0", portalURL: "https://0x7f.0.0.1/d/1", missing: ["portal_url"]),
        DetailsCase(licence: "cc0-1.0", portalURL: "https://127.1/d/1", missing: ["portal_url"]),
        DetailsCase(licence: "cc0-1.0", portalURL: "https://opendata.stadt.0x7F/d/1", missing: ["portal_url"]),
        DetailsCase(licence: "cc0-1.0", portalURL: "https://opendata.stadt.0x/d/1", missing: ["portal_url"]),
        DetailsCase(licence: "cc0-1.0", portalURL: "https://opendata.stadt.1/d/1", missing: ["portal_url"]),
        DetailsCase(licence: "cc0-1.0", portalURL: "https://0x7f.stadt.example/d/1", missing: []),
        DetailsCase(licence: "cc0-1.0", portalURL: "https://opendata.stadt.0xg/d/1", missing: []),
        DetailsCase(licence: "cc0-1.0", portalURL: "https://localhost/d/1", missing: ["portal_url"]),
        DetailsCase(licence: "cc0-1.0", portalURL: "https://ckan.localhost/d/1", missing: ["portal_url"]),
        DetailsCase(licence: "cc0-1.0", portalURL: "https://portal/d/1", missing: ["portal_url"]),
        DetailsCase(licence: "cc0-1.0", portalURL: "https://ckan.intern.internal/d/1", missing: ["portal_url"]),
        DetailsCase(licence: "cc0-1.0", portalURL: "https://HTTPS.Opendata.Stadt.Example./d", missing: []),
        // As typed, it must already be an IRI: Foundation would quietly percent-encode these.
        DetailsCase(licence: "cc0-1.0", portalURL: "https://opendata.stadt.example/a b", missing: ["portal_url"]),
        DetailsCase(
            licence: "cc0-1.0", portalURL: #"https://opendata.stadt.example/"><script>"#, missing: ["portal_url"]),
        DetailsCase(licence: "cc0-1.0", portalURL: "https://opendata.stadt.example/{x}|^`\\", missing: ["portal_url"]),
        DetailsCase(licence: "cc0-1.0", portalURL: "https://opendata.stadt.example/a%2", missing: ["portal_url"]),
        DetailsCase(licence: "cc0-1.0", portalURL: "https://opendata.stadt.example/a%g0", missing: ["portal_url"]),
        DetailsCase(licence: "cc0-1.0", portalURL: "https://opendata.stadt.example/a\u{7F}", missing: ["portal_url"]),
        DetailsCase(licence: "cc0-1.0", portalURL: "https://opendata.stadt.example/a\u{A0}b", missing: ["portal_url"]),
        DetailsCase(
            licence: "cc0-1.0", portalURL: "https://opendata.stadt.example/a\u{202E}b", missing: ["portal_url"]),
        DetailsCase(
            licence: "cc0-1.0", portalURL: "https://opendata.stadt.example/a\u{2028}b", missing: ["portal_url"]),
        DetailsCase(
            licence: "cc0-1.0", portalURL: "https://opendata.stadt.example/straßenbäume?x=1&y=%22", missing: []),
        DetailsCase(licence: "cc0-1.0", portalURL: "https://opendata.stadt.example/a%3Eb#teil", missing: []),
    ]

    @Test("publishing needs an open licence and an https portal URL on a public name", arguments: detailsCases)
    func publicationDetails(_ details: DetailsCase) throws {
        var machine = try Fixtures.submitted(try Fixtures.definition(.openData), Fixtures.open())
        try Fixtures.drive(&machine, to: "in_review:publication")
        let given = ApprovalDetails(licence: details.licence, portalURL: details.portalURL)
        if details.missing.isEmpty {
            _ = try machine.approve(by: Fixtures.olga, at: Fixtures.t0, details: given)
            #expect(machine.state.name == "published:published")
            #expect(machine.decisions.last?.details == given)
        } else {
            Fixtures.expectRefused(.approvalDetailsMissing, .approve, details: details.missing, on: &machine) {
                try $0.approve(by: Fixtures.olga, at: Fixtures.t0, details: given)
            }
        }
    }

    @Test("other steps need no approval details and take none")
    func noDetailsElsewhere() throws {
        var machine = try Fixtures.submitted(try Fixtures.definition(.openData), Fixtures.open())
        for (details, named) in [
            (ApprovalDetails(licence: "cc0-1.0"), ["licence"]),
            (ApprovalDetails(portalURL: "javascript:alert(1)"), ["portal_url"]),
            (
                ApprovalDetails(licence: "x", portalURL: "https://opendata.stadt.example/d/1"),
                ["licence", "portal_url"]
            ),
        ] {
            Fixtures.expectRefused(.approvalDetailsNotAsked, .approve, details: named, on: &machine) {
                try $0.approve(by: Fixtures.otto, at: Fixtures.t0, details: details)
            }
        }
        _ = try machine.approve(by: Fixtures.otto, at: Fixtures.t0, details: ApprovalDetails(licence: "  "))
        #expect(machine.state.name == "in_review:steward_review")
    }

    static let blanks = ["", " ", "  \n\t ", "\u{3000}"]

    @Test("rejecting, asking for changes and revoking need a reason that is not blank", arguments: blanks)
    func reasons(_ blank: String) throws {
        var machine = try Fixtures.submitted(try Fixtures.definition(.sharedData), Fixtures.shared())
        Fixtures.expectRefused(.reasonRequired, .reject, on: &machine) {
            try $0.reject(by: Fixtures.otto, at: Fixtures.t0, reason: blank)
        }
        Fixtures.expectRefused(.reasonRequired, .requestChanges, on: &machine) {
            try $0.requestChanges(by: Fixtures.otto, at: Fixtures.t0, question: blank)
        }
        var granted = try Fixtures.machine(.sharedData, in: "granted:granted")
        Fixtures.expectRefused(.reasonRequired, .revoke, on: &granted) {
            try $0.revoke(by: Fixtures.otto, at: Fixtures.t0, reason: blank)
        }
    }

    @Test("a step may forbid request_changes")
    func requestChangesForbidden() throws {
        let definition = try Fixtures.sharedDataVariant(
            replacing: "    role: data_owner\n", with: "    role: data_owner\n    request_changes: false\n")
        var machine = try Fixtures.submitted(definition, Fixtures.shared())
        Fixtures.expectRefused(.requestChangesNotAllowed, .requestChanges, on: &machine) {
            try $0.requestChanges(by: Fixtures.otto, at: Fixtures.t0, question: "Zweck?")
        }
        // Authority comes first: a stranger hears that they may not decide at all.
        Fixtures.expectRefused(.notAuthorised, .requestChanges, on: &machine) {
            try $0.requestChanges(by: Fixtures.olga, at: Fixtures.t0, question: "Zweck?")
        }
    }

    @Test("a definition that does not serve the kind refuses the request")
    func kindNotServed() throws {
        #expect(throws: WorkflowError.self) {
            _ = try Fixtures.draft(try Fixtures.definition(.sharedData), Fixtures.open())
        }
        do {
            _ = try RequestMachine(
                definition: try Fixtures.definition(.openData), calendar: Fixtures.calendar, requester: "anna",
                facts: Fixtures.shared(), accessEnd: Fixtures.accessEnd)
            Issue.record("accepted a Shared Data request")
        } catch let error as WorkflowError {
            #expect(error.code == .kindNotServed)
            #expect(error.details == ["open-data does not serve shared_data"])
        }
    }
}
