import Foundation
import Testing

@testable import WorkflowEngine

/// Granted Shared Data ends: the requester and the Data Owner are told ten working days before
/// (`announceExpiry`), and again when it expired; a revocation makes both timers moot.
@Suite("Expiry notice of granted access")
struct ExpiryNoticeTests {
    typealias Fixtures = MachineFixtures

    /// Access ends at the end of Wednesday 30 June 2027 (Berlin). Ten working days before that day in
    /// Hessen (no holiday in between; Fronleichnam was 27 May): 29, 28, 25, 24, 23, 22, 21, 18, 17,
    /// 16 June. The notice is due at the end of Wednesday 16 June, 24:00 Berlin = 22:00 UTC.
    static let noticeDue = Fixtures.instant("2027-06-16T22:00:00Z")

    /// The effects the grant itself sets off: notice and expiry timers, then the requester's mail.
    static func grantTimers(_ effects: [Effect]) -> [Effect] {
        effects.filter { effect in
            switch effect {
            case .scheduleExpiryNotice, .scheduleExpiry, .notifyRequester(.granted): true
            default: false
            }
        }
    }

    @Test("the grant schedules the notice ten working days before the end, then the expiry")
    func grantSchedulesNotice() throws {
        var machine = try Fixtures.machine(.sharedData, in: "in_review:security_review")
        let effects = try Fixtures.approveCurrentStep(&machine, at: Fixtures.t0)
        #expect(machine.state.name == "granted:granted")
        #expect(
            Self.grantTimers(effects) == [
                .scheduleExpiryNotice(at: Self.noticeDue), .scheduleExpiry(at: Fixtures.accessEnd),
                .notifyRequester(.granted(until: Fixtures.accessEnd)),
            ])
        #expect(RequestMachine.expiryNoticeWorkingDays == 10)
    }

    @Test("a period shorter than the notice: the notice is due at once, at the grant")
    func shortPeriodNoticeAtOnce() throws {
        let definition = try Fixtures.definition(.sharedData)
        // Ends at the end of Friday 13 March 2026: nine working days after Monday 2 March.
        let until = Fixtures.instant("2026-03-13T23:00:00Z")
        var machine = try Fixtures.submitted(
            definition, Fixtures.everyStepApplies(.sharedData), accessEnd: until, at: Fixtures.t0)
        var effects: [Effect] = []
        let grantedAt = Fixtures.minutes(30)
        for _ in 0..<4 where machine.state.name != "granted:granted" {
            effects = try Fixtures.approveCurrentStep(&machine, at: grantedAt)
        }
        #expect(machine.state.name == "granted:granted")
        #expect(
            Self.grantTimers(effects) == [
                .scheduleExpiryNotice(at: grantedAt), .scheduleExpiry(at: until),
                .notifyRequester(.granted(until: until)),
            ])
        // And the notice fires then: the engine does not call it too early.
        let notice = try machine.announceExpiry(at: grantedAt)
        #expect(notice.contains(.notifyRequester(.expiring(until: until))))
    }

    @Test("the notice tells the requester and the Data Owner, not before its time, and changes nothing else")
    func announce() throws {
        var machine = try Fixtures.machine(.sharedData, in: "granted:granted")
        let before = machine
        Fixtures.expectRefused(.tooEarly, .announceExpiry, details: ["notice due \(Self.noticeDue)"], on: &machine) {
            try $0.announceExpiry(at: Self.noticeDue.addingTimeInterval(-1))
        }
        let effects = try machine.announceExpiry(at: Self.noticeDue)
        #expect(
            effects
                == Fixtures.after(
                    "granted:granted", machine,
                    [
                        Fixtures.audit(.expiryAnnounced, at: Self.noticeDue),
                        .notifyRequester(.expiring(until: Fixtures.accessEnd)),
                        .inform(role: .dataOwner, .accessExpiring(until: Fixtures.accessEnd)),
                    ]))
        #expect(machine == before)
    }

    @Test("a notice that comes only when access has ended is moot: refused, the expiry alone speaks")
    func noticeAfterTheEndIsMoot() throws {
        var machine = try Fixtures.machine(.sharedData, in: "granted:granted")
        #expect(try !machine.announceExpiry(at: Fixtures.accessEnd.addingTimeInterval(-1)).isEmpty)
        Fixtures.expectRefused(
            .invalidTransition, .announceExpiry, details: ["access ended \(Fixtures.accessEnd)"], on: &machine
        ) {
            try $0.announceExpiry(at: Fixtures.accessEnd)
        }
        let expired = try machine.expire(at: Fixtures.accessEnd)
        #expect(expired.contains(.notifyRequester(.expired)))
    }

    @Test("after a revocation both timers are cancelled, and a late notice or expiry is refused")
    func revokedIsMoot() throws {
        var machine = try Fixtures.machine(.sharedData, in: "granted:granted")
        let effects = try machine.revoke(by: Fixtures.otto, at: Fixtures.days(30), reason: "Zweck entfallen")
        #expect(effects.contains(.cancelExpiry))
        #expect(!effects.contains { if case .notifyRequester(.expiring) = $0 { true } else { false } })
        Fixtures.expectRefused(.invalidTransition, .announceExpiry, on: &machine) {
            try $0.announceExpiry(at: Self.noticeDue)
        }
        Fixtures.expectRefused(.invalidTransition, .expire, on: &machine) {
            try $0.expire(at: Fixtures.accessEnd)
        }
    }

    @Test("Open Data is never granted: no expiry timers on publication")
    func publishedHasNoExpiry() throws {
        var machine = try Fixtures.machine(.openData, in: "in_review:publication")
        let effects = try Fixtures.approveCurrentStep(&machine, at: Fixtures.t0)
        #expect(machine.state.name == "published:published")
        #expect(Self.grantTimers(effects).isEmpty)
        Fixtures.expectRefused(.invalidTransition, .announceExpiry, on: &machine) {
            try $0.announceExpiry(at: Fixtures.muchLater)
        }
    }
}
