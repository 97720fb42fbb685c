import Testing

@testable import SMTPClient

/// The protocol alone: scripted server replies in, actions compared whole.
@Suite struct StateMachineTests {
    typealias Machine = SMTPStateMachine
    typealias Action = SMTPStateMachine.Action

    static let helo = "client.stadt.example"

    static func makeMachine(
        _ envelopes: [SMTPEnvelope] = [Fixture.envelope()],
        security: SMTPConfiguration.Security = .startTLS,
        credentials: SMTPCredentials? = Fixture.credentials
    ) -> Machine {
        Machine(
            configuration: .init(security: security, credentials: credentials, clientHostname: Self.helo),
            envelopes: envelopes)
    }

    static func reply(_ text: String) -> SMTPReply { Fixture.reply(text) }

    /// Greeting, EHLO, STARTTLS, EHLO, AUTH PLAIN: checks every action on the way and returns the
    /// action after authentication (MAIL FROM of the first message, normally).
    static func openSession(_ machine: inout Machine, ehloAfterTLS: String = Fixture.ehloAfterTLS) -> Action {
        #expect(machine.connected() == .wait)
        #expect(machine.replyReceived(reply("220 mail.stadt.example ESMTP")) == .send(.ehlo(helo)))
        #expect(machine.replyReceived(reply(Fixture.ehloWithEverything)) == .send(.startTLS))
        #expect(machine.replyReceived(reply("220 2.0.0 Ready to start TLS")) == .startTLSHandshake)
        #expect(machine.tlsEstablished() == .send(.ehlo(helo)))
        #expect(machine.replyReceived(reply(ehloAfterTLS)) == .send(.authPlain(Fixture.credentials)))
        return machine.replyReceived(reply("235 2.7.0 Authentication successful"))
    }

    static func mailFrom(_ envelope: SMTPEnvelope, size: Int? = nil) -> Action {
        .send(.mailFrom(envelope.sender, size: size ?? envelope.content.count, smtpUTF8: envelope.requiresSMTPUTF8))
    }

    static func delivered(_ envelope: SMTPEnvelope) -> DeliveryResult {
        DeliveryResult(
            messageID: envelope.messageID,
            recipients: envelope.recipients.map { RecipientResult(address: $0, outcome: .delivered) })
    }

    static func failed(_ envelope: SMTPEnvelope, _ error: SMTPError) -> DeliveryResult {
        DeliveryResult(
            messageID: envelope.messageID,
            recipients: envelope.recipients.map { RecipientResult(address: $0, outcome: .failed(error)) })
    }

    /// Drives one message from the MAIL FROM reply to the final 250 and returns the next action.
    static func deliver(_ envelope: SMTPEnvelope, _ machine: inout Machine) -> Action {
        #expect(machine.replyReceived(reply("250 2.1.0 Ok")) == .send(.rcptTo(envelope.recipients[0])))
        for next in envelope.recipients.dropFirst() {
            #expect(machine.replyReceived(reply("250 2.1.5 Ok")) == .send(.rcptTo(next)))
        }
        #expect(machine.replyReceived(reply("250 2.1.5 Ok")) == .send(.data))
        #expect(
            machine.replyReceived(reply("354 End data with <CR><LF>.<CR><LF>"))
                == .sendContent(DotStuffing.encode(envelope.content)))
        return machine.replyReceived(reply("250 2.0.0 Ok: queued"))
    }

    // MARK: - Whole sessions

    @Test func oneMessageOverSTARTTLSWithAuthPlain() {
        let envelope = Fixture.envelope(to: ["a@stadt.example", "b@stadt.example"])
        var machine = Self.makeMachine([envelope])
        #expect(Self.openSession(&machine) == Self.mailFrom(envelope))
        #expect(Self.deliver(envelope, &machine) == .send(.quit))
        #expect(
            machine.replyReceived(Self.reply("221 2.0.0 Bye"))
                == .finish(.completed([Self.delivered(envelope)]), sendQuit: false))
        // Nothing happens after the end.
        #expect(machine.connectionClosed() == .wait)
    }

    @Test func severalMessagesShareTheConnectionWithRSETBetween() {
        let first = Fixture.envelope("m1@freigabe.test")
        let second = Fixture.envelope("m2@freigabe.test", to: ["b@stadt.example"])
        let third = Fixture.envelope("m3@freigabe.test", to: ["c@stadt.example"])
        var machine = Self.makeMachine([first, second, third])
        #expect(Self.openSession(&machine) == Self.mailFrom(first))
        #expect(Self.deliver(first, &machine) == .send(.reset))
        #expect(machine.replyReceived(Self.reply("250 2.0.0 Ok")) == Self.mailFrom(second))
        #expect(Self.deliver(second, &machine) == .send(.reset))
        #expect(machine.replyReceived(Self.reply("250 2.0.0 Ok")) == Self.mailFrom(third))
        #expect(Self.deliver(third, &machine) == .send(.quit))
        let results = [first, second, third].map(Self.delivered)
        #expect(machine.replyReceived(Self.reply("221 Bye")) == .finish(.completed(results), sendQuit: false))
    }

    @Test func authLoginAnswersBothChallenges() {
        var machine = Self.makeMachine()
        _ = machine.connected()
        _ = machine.replyReceived(Self.reply("220 ready"))
        _ = machine.replyReceived(Self.reply(Fixture.ehloWithEverything))
        _ = machine.replyReceived(Self.reply("220 go ahead"))
        _ = machine.tlsEstablished()
        #expect(machine.replyReceived(Self.reply("250-mx\n250 AUTH=LOGIN")) == .send(.authLogin))
        #expect(machine.replyReceived(Self.reply("334 VXNlcm5hbWU6")) == .send(.authLoginResponse("svc-freigabe")))
        #expect(machine.replyReceived(Self.reply("334 UGFzc3dvcmQ6")) == .send(.authLoginResponse("geheim-Passwört")))
        #expect(machine.replyReceived(Self.reply("235 ok")) == Self.mailFrom(Fixture.envelope(), size: nil).withoutSize)
    }

    @Test func implicitTLSNeedsNoSTARTTLSAndNoSizeWhenNotAnnounced() {
        let envelope = Fixture.envelope()
        var machine = Self.makeMachine([envelope], security: .implicitTLS)
        #expect(machine.connected() == .wait)
        #expect(machine.tlsEstablished() == .wait)
        #expect(machine.replyReceived(Self.reply("220 smtps ready")) == .send(.ehlo(Self.helo)))
        #expect(machine.replyReceived(Self.reply("250-mx\n250 AUTH PLAIN")) == .send(.authPlain(Fixture.credentials)))
        #expect(
            machine.replyReceived(Self.reply("235 ok"))
                == .send(.mailFrom(envelope.sender, size: nil, smtpUTF8: false)))
    }

    @Test func plaintextWithoutCredentialsGoesStraightToTheMessage() {
        let envelope = Fixture.envelope()
        var machine = Self.makeMachine([envelope], security: .plaintext, credentials: nil)
        _ = machine.connected()
        _ = machine.replyReceived(Self.reply("220 relay"))
        #expect(machine.replyReceived(Self.reply("250-relay\n250-STARTTLS\n250 SIZE")) == Self.mailFrom(envelope))
    }

    @Test func noPasswordOverAPlainConnection() {
        var machine = Self.makeMachine(security: .plaintext, credentials: Fixture.credentials)
        _ = machine.connected()
        _ = machine.replyReceived(Self.reply("220 relay"))
        let action = machine.replyReceived(Self.reply("250-relay\n250 AUTH PLAIN LOGIN"))
        guard case .finish(.failed(let error), sendQuit: true) = action else {
            Issue.record("expected a failed session, got \(action)")
            return
        }
        #expect(error.code == .configuration)
    }

    @Test func capabilitiesAreReadFromAMultiLineEHLOReply() {
        let capabilities = SMTPCapabilities(
            ehloReply: Self.reply(
                "250-mx.example greets you\n250-size 35882577\n250-8BITMIME\n250-AUTH LOGIN PLAIN XOAUTH2\n250-AUTH=CRAM-MD5\n250-ENHANCEDSTATUSCODES\n250-STARTTLS\n250 SMTPUTF8"
            ))
        var expected = SMTPCapabilities()
        expected.startTLS = true
        expected.authMechanisms = ["LOGIN", "PLAIN", "XOAUTH2", "CRAM-MD5"]
        expected.maximumSize = 35_882_577
        expected.eightBitMIME = true
        expected.smtpUTF8 = true
        expected.enhancedStatusCodes = true
        #expect(capabilities == expected)
        // The greeting line is not a keyword, even when it looks like one.
        #expect(SMTPCapabilities(ehloReply: Self.reply("250 STARTTLS")).startTLS == false)
    }

    @Test func capabilitiesLearntBeforeTLSAreForgotten() {
        // Before TLS the server claims AUTH; afterwards it does not: its word after TLS counts.
        var machine = Self.makeMachine()
        _ = machine.connected()
        _ = machine.replyReceived(Self.reply("220 ready"))
        _ = machine.replyReceived(Self.reply("250-mx\n250-AUTH PLAIN\n250 STARTTLS"))
        _ = machine.replyReceived(Self.reply("220 go"))
        _ = machine.tlsEstablished()
        let action = machine.replyReceived(Self.reply("250-mx\n250 SIZE"))
        guard case .finish(.failed(let error), sendQuit: true) = action else {
            Issue.record("expected failure, got \(action)")
            return
        }
        #expect(error.code == .authenticationUnavailable)
        #expect(error.isPermanent)
    }

    // MARK: - Session setup failures

    @Test func startTLSRequiredButNotOffered() {
        var machine = Self.makeMachine()
        _ = machine.connected()
        _ = machine.replyReceived(Self.reply("220 ready"))
        let action = machine.replyReceived(Self.reply("250-mx\n250 AUTH PLAIN"))
        guard case .finish(.failed(let error), sendQuit: true) = action else {
            Issue.record("expected failure, got \(action)")
            return
        }
        #expect(error.code == .startTLSUnavailable)
        #expect(error.stage == .ehlo)
    }

    struct SetupStep: Sendable, CustomTestStringConvertible {
        var name: String
        /// Replies that lead to the step (after `connected()`); the refusal comes next.
        var before: [String]
        var tlsAfter: Int?
        var expectedCode: SMTPError.Code
        var stage: SMTPError.Stage
        var testDescription: String { self.name }
    }

    static let setupSteps: [SetupStep] = [
        SetupStep(name: "greeting", before: [], expectedCode: .serviceUnavailable, stage: .greeting),
        SetupStep(name: "EHLO", before: ["220 ready"], expectedCode: .rejected, stage: .ehlo),
        SetupStep(
            name: "STARTTLS", before: ["220 ready", Fixture.ehloWithEverything], expectedCode: .startTLSUnavailable,
            stage: .startTLS),
        SetupStep(
            name: "EHLO after TLS", before: ["220 ready", Fixture.ehloWithEverything, "220 go"], tlsAfter: 3,
            expectedCode: .rejected, stage: .ehlo),
        SetupStep(
            name: "AUTH", before: ["220 ready", Fixture.ehloWithEverything, "220 go", Fixture.ehloAfterTLS],
            tlsAfter: 3, expectedCode: .authenticationFailed, stage: .authentication),
    ]

    /// 4xx and 5xx at every step before the first message: the session fails, temporary or permanent
    /// as the reply's class says, with a polite QUIT; 421 means the server already closes.
    @Test(arguments: setupSteps, ["451 4.3.0 try later", "554 5.7.1 no", "535 5.7.8 bad credentials", "421 4.3.2 bye"])
    func refusalDuringSetup(step: SetupStep, refusal: String) {
        var machine = Self.makeMachine()
        _ = machine.connected()
        for (index, text) in step.before.enumerated() {
            _ = machine.replyReceived(Self.reply(text))
            if step.tlsAfter == index + 1 {
                _ = machine.tlsEstablished()
            }
        }
        let reply = Self.reply(refusal)
        let action = machine.replyReceived(reply)
        guard case .finish(.failed(let error), let sendQuit) = action else {
            Issue.record("expected a failed session, got \(action)")
            return
        }
        #expect(error.code == (reply.code == 421 ? .serviceUnavailable : step.expectedCode))
        #expect(error.isTemporary == (reply.code < 500))
        #expect(error.stage == step.stage)
        #expect(error.reply == reply)
        #expect(sendQuit == (reply.code != 421))
    }

    @Test(arguments: ["greeting", "ehlo", "startTLS", "tlsHandshake", "auth"])
    func timeoutAndClosedConnectionDuringSetup(step: String) {
        for useTimeout in [true, false] {
            var machine = Self.makeMachine()
            _ = machine.connected()
            let replies = ["greeting": 0, "ehlo": 1, "startTLS": 2, "tlsHandshake": 3, "auth": 3][step] ?? 0
            let script = ["220 ready", Fixture.ehloWithEverything, "220 go"]
            for text in script.prefix(replies) {
                _ = machine.replyReceived(Self.reply(text))
            }
            if step == "auth" {
                _ = machine.tlsEstablished()
                _ = machine.replyReceived(Self.reply(Fixture.ehloAfterTLS))
            }
            let action = useTimeout ? machine.timedOut() : machine.connectionClosed()
            guard case .finish(.failed(let error), sendQuit: false) = action else {
                Issue.record("expected failure at \(step), got \(action)")
                continue
            }
            #expect(error.code == (useTimeout ? .timeout : .connectionClosed))
            #expect(error.isTemporary)
        }
    }

    @Test func aReplyDuringTheTLSHandshakeIsAProtocolViolation() {
        var machine = Self.makeMachine()
        _ = machine.connected()
        _ = machine.replyReceived(Self.reply("220 ready"))
        _ = machine.replyReceived(Self.reply(Fixture.ehloWithEverything))
        #expect(machine.replyReceived(Self.reply("220 go")) == .startTLSHandshake)
        let action = machine.replyReceived(Self.reply("250 injected"))
        guard case .finish(.failed(let error), sendQuit: false) = action else {
            Issue.record("expected failure, got \(action)")
            return
        }
        #expect(error.code == .protocolViolation)
    }

    // MARK: - Recipients and messages

    @Test func mixedRecipientResults() {
        let envelope = Fixture.envelope(to: ["gut@stadt.example", "reject@stadt.example", "tempfail@stadt.example"])
        var machine = Self.makeMachine([envelope])
        #expect(Self.openSession(&machine) == Self.mailFrom(envelope))
        #expect(machine.replyReceived(Self.reply("250 ok")) == .send(.rcptTo(envelope.recipients[0])))
        #expect(machine.replyReceived(Self.reply("250 ok")) == .send(.rcptTo(envelope.recipients[1])))
        let rejected = Self.reply("550 5.1.1 Mailbox unavailable")
        #expect(machine.replyReceived(rejected) == .send(.rcptTo(envelope.recipients[2])))
        let deferred = Self.reply("451 4.3.0 Temporary failure")
        #expect(machine.replyReceived(deferred) == .send(.data))
        #expect(machine.replyReceived(Self.reply("354 go")) == .sendContent(DotStuffing.encode(envelope.content)))
        #expect(machine.replyReceived(Self.reply("250 queued")) == .send(.quit))
        let expected = DeliveryResult(
            messageID: envelope.messageID,
            recipients: [
                RecipientResult(address: envelope.recipients[0], outcome: .delivered),
                RecipientResult(
                    address: envelope.recipients[1],
                    outcome: .failed(SMTPError(code: .rejected, isTemporary: false, stage: .rcptTo, reply: rejected))),
                RecipientResult(
                    address: envelope.recipients[2],
                    outcome: .failed(SMTPError(code: .rejected, isTemporary: true, stage: .rcptTo, reply: deferred))),
            ])
        #expect(machine.replyReceived(Self.reply("221 bye")) == .finish(.completed([expected]), sendQuit: false))
        #expect(expected.permanentlyFailed == [envelope.recipients[1]])
        #expect(expected.temporarilyFailed == [envelope.recipients[2]])
        #expect(!expected.isDelivered)
    }

    @Test func noRecipientAcceptedSkipsDATAAndResets() {
        let first = Fixture.envelope("m1@freigabe.test", to: ["reject1@stadt.example", "reject2@stadt.example"])
        let second = Fixture.envelope("m2@freigabe.test")
        var machine = Self.makeMachine([first, second])
        #expect(Self.openSession(&machine) == Self.mailFrom(first))
        _ = machine.replyReceived(Self.reply("250 ok"))
        let rejected = Self.reply("550 5.1.1 unknown")
        #expect(machine.replyReceived(rejected) == .send(.rcptTo(first.recipients[1])))
        #expect(machine.replyReceived(rejected) == .send(.reset))
        #expect(machine.replyReceived(Self.reply("250 reset")) == Self.mailFrom(second))
        #expect(Self.deliver(second, &machine) == .send(.quit))
        let error = SMTPError(code: .rejected, isTemporary: false, stage: .rcptTo, reply: rejected)
        #expect(
            machine.replyReceived(Self.reply("221 bye"))
                == .finish(.completed([Self.failed(first, error), Self.delivered(second)]), sendQuit: false))
    }

    struct TransactionStep: Sendable, CustomTestStringConvertible {
        var name: String
        /// Positive replies before the refusal, after MAIL FROM was sent.
        var before: [String]
        var stage: SMTPError.Stage
        var testDescription: String { self.name }
    }

    static let transactionSteps = [
        TransactionStep(name: "MAIL FROM", before: [], stage: .mailFrom),
        TransactionStep(name: "DATA", before: ["250 sender ok", "250 rcpt ok"], stage: .data),
        TransactionStep(
            name: "end of data", before: ["250 sender ok", "250 rcpt ok", "354 go"], stage: .messageContent),
    ]

    /// 4xx and 5xx for a whole message: that message fails (temporary or permanent), the
    /// connection goes on with RSET and the next message.
    @Test(arguments: transactionSteps, ["452 4.3.1 insufficient storage", "552 5.3.4 message too big"])
    func refusalOfAMessage(step: TransactionStep, refusal: String) {
        let first = Fixture.envelope("m1@freigabe.test")
        let second = Fixture.envelope("m2@freigabe.test")
        var machine = Self.makeMachine([first, second])
        #expect(Self.openSession(&machine) == Self.mailFrom(first))
        for text in step.before {
            _ = machine.replyReceived(Self.reply(text))
        }
        let reply = Self.reply(refusal)
        #expect(machine.replyReceived(reply) == .send(.reset))
        #expect(machine.replyReceived(Self.reply("250 ok")) == Self.mailFrom(second))
        #expect(Self.deliver(second, &machine) == .send(.quit))
        let error = SMTPError(code: .rejected, isTemporary: reply.code < 500, stage: step.stage, reply: reply)
        #expect(
            machine.replyReceived(Self.reply("221 bye"))
                == .finish(.completed([Self.failed(first, error), Self.delivered(second)]), sendQuit: false))
    }

    @Test func aRecipientRefusedBeforeDATAKeepsItsOwnErrorWhenTheMessageFails() {
        let envelope = Fixture.envelope(to: ["a@stadt.example", "reject@stadt.example"])
        var machine = Self.makeMachine([envelope])
        _ = Self.openSession(&machine)
        _ = machine.replyReceived(Self.reply("250 ok"))
        _ = machine.replyReceived(Self.reply("250 ok"))
        let own = Self.reply("550 no such user")
        #expect(machine.replyReceived(own) == .send(.data))
        let dataRefusal = Self.reply("554 5.6.0 content rejected")
        #expect(machine.replyReceived(dataRefusal) == .send(.quit))
        guard case .finish(.completed(let results), _) = machine.replyReceived(Self.reply("221 bye")) else {
            Issue.record("expected results")
            return
        }
        #expect(
            results[0].recipients.map(\.outcome) == [
                .failed(SMTPError(code: .rejected, isTemporary: false, stage: .data, reply: dataRefusal)),
                .failed(SMTPError(code: .rejected, isTemporary: false, stage: .rcptTo, reply: own)),
            ])
    }

    @Test func connectionClosedMidDATA() {
        let first = Fixture.envelope("m1@freigabe.test")
        let second = Fixture.envelope("m2@freigabe.test", to: ["b@stadt.example", "reject@stadt.example"])
        let third = Fixture.envelope("m3@freigabe.test")
        var machine = Self.makeMachine([first, second, third])
        _ = Self.openSession(&machine)
        #expect(Self.deliver(first, &machine) == .send(.reset))
        _ = machine.replyReceived(Self.reply("250 ok"))
        _ = machine.replyReceived(Self.reply("250 ok"))
        _ = machine.replyReceived(Self.reply("250 ok"))
        let refused = Self.reply("550 no")
        _ = machine.replyReceived(refused)
        #expect(machine.replyReceived(Self.reply("354 go")) == .sendContent(DotStuffing.encode(second.content)))
        let closed = SMTPError(code: .connectionClosed, isTemporary: true, stage: .messageContent)
        let expected: [DeliveryResult] = [
            Self.delivered(first),
            DeliveryResult(
                messageID: second.messageID,
                recipients: [
                    RecipientResult(address: second.recipients[0], outcome: .failed(closed)),
                    RecipientResult(
                        address: second.recipients[1],
                        outcome: .failed(SMTPError(code: .rejected, isTemporary: false, stage: .rcptTo, reply: refused))
                    ),
                ]),
            Self.failed(third, closed),
        ]
        #expect(machine.connectionClosed() == .finish(.completed(expected), sendQuit: false))
    }

    @Test func timeoutWaitingForTheEndOfDataReply() {
        let envelope = Fixture.envelope()
        var machine = Self.makeMachine([envelope])
        _ = Self.openSession(&machine)
        _ = machine.replyReceived(Self.reply("250 ok"))
        _ = machine.replyReceived(Self.reply("250 ok"))
        _ = machine.replyReceived(Self.reply("354 go"))
        let timeout = SMTPError(code: .timeout, isTemporary: true, stage: .messageContent)
        #expect(machine.timedOut() == .finish(.completed([Self.failed(envelope, timeout)]), sendQuit: false))
    }

    @Test func serviceClosingInTheMiddleOfRecipientsFailsTheRestTemporarily() {
        let first = Fixture.envelope("m1@freigabe.test", to: ["a@stadt.example", "b@stadt.example"])
        let second = Fixture.envelope("m2@freigabe.test")
        var machine = Self.makeMachine([first, second])
        _ = Self.openSession(&machine)
        _ = machine.replyReceived(Self.reply("250 ok"))
        _ = machine.replyReceived(Self.reply("250 ok"))
        let closing = Self.reply("421 4.3.2 shutting down")
        let error = SMTPError(code: .serviceUnavailable, isTemporary: true, stage: .rcptTo, reply: closing)
        #expect(
            machine.replyReceived(closing)
                == .finish(.completed([Self.failed(first, error), Self.failed(second, error)]), sendQuit: false))
    }

    @Test func aFailedRSETEndsTheSessionButKeepsTheDelivered() {
        let first = Fixture.envelope("m1@freigabe.test")
        let second = Fixture.envelope("m2@freigabe.test")
        var machine = Self.makeMachine([first, second])
        _ = Self.openSession(&machine)
        #expect(Self.deliver(first, &machine) == .send(.reset))
        let refusal = Self.reply("502 5.5.1 no RSET here")
        let error = SMTPError(code: .rejected, isTemporary: false, stage: .reset, reply: refusal)
        #expect(
            machine.replyReceived(refusal)
                == .finish(.completed([Self.delivered(first), Self.failed(second, error)]), sendQuit: true))
    }

    @Test func lostQUITReplyChangesNoResult() {
        let envelope = Fixture.envelope()
        for ending in ["closed", "timeout", "error reply"] {
            var machine = Self.makeMachine([envelope])
            _ = Self.openSession(&machine)
            #expect(Self.deliver(envelope, &machine) == .send(.quit))
            let action: Action
            switch ending {
            case "closed": action = machine.connectionClosed()
            case "timeout": action = machine.timedOut()
            default: action = machine.replyReceived(Self.reply("500 what"))
            }
            #expect(action == .finish(.completed([Self.delivered(envelope)]), sendQuit: false), "\(ending)")
        }
    }

    // MARK: - SIZE and SMTPUTF8

    @Test func messageLargerThanSIZEFailsPermanentlyWithoutBeingSent() {
        let big = Fixture.envelope("big@freigabe.test", content: String(repeating: "x", count: 2000) + "\r\n")
        let small = Fixture.envelope("small@freigabe.test")
        var machine = Self.makeMachine([big, small])
        let action = Self.openSession(&machine, ehloAfterTLS: "250-mx\n250-SIZE 1000\n250 AUTH PLAIN")
        // The big one is skipped before MAIL FROM; the small one goes with its SIZE.
        #expect(action == .send(.mailFrom(small.sender, size: small.content.count, smtpUTF8: false)))
        #expect(Self.deliver(small, &machine) == .send(.quit))
        guard case .finish(.completed(let results), _) = machine.replyReceived(Self.reply("221 bye")) else {
            Issue.record("expected results")
            return
        }
        #expect(results.map(\.messageID) == [big.messageID, small.messageID])
        guard case .failed(let error) = results[0].recipients[0].outcome else {
            Issue.record("big message was delivered")
            return
        }
        #expect(error.code == .messageTooLarge)
        #expect(error.isPermanent)
        #expect(results[1].isDelivered)
    }

    @Test func sizeWithoutLimitStillAnnouncesTheSize() {
        let envelope = Fixture.envelope()
        var machine = Self.makeMachine([envelope])
        #expect(Self.openSession(&machine, ehloAfterTLS: "250-mx\n250-SIZE\n250 AUTH PLAIN") == Self.mailFrom(envelope))
    }

    @Test func nonASCIIAddressNeedsSMTPUTF8() {
        let utf8 = Fixture.envelope("u@freigabe.test", to: ["jürgen@stadt.example"], smtpUTF8: true)
        var machine = Self.makeMachine([utf8])
        let action = Self.openSession(&machine, ehloAfterTLS: "250-mx\n250 AUTH PLAIN")
        guard case .send(.quit) = action else {
            Issue.record("expected QUIT, got \(action)")
            return
        }
        guard case .finish(.completed(let results), _) = machine.replyReceived(Self.reply("221 bye")),
            case .failed(let error) = results.first?.recipients.first?.outcome
        else {
            Issue.record("expected a failed message")
            return
        }
        #expect(error.code == .smtpUTF8Unavailable)

        var offering = Self.makeMachine([utf8])
        #expect(
            Self.openSession(&offering, ehloAfterTLS: "250-mx\n250-SMTPUTF8\n250 AUTH PLAIN")
                == .send(.mailFrom(utf8.sender, size: nil, smtpUTF8: true)))
    }

    // MARK: - Commands

    @Test func commandLinesAndRedactedDescriptions() {
        let plain = SMTPCommand.authPlain(SMTPCredentials(username: "u", password: "p"))
        // base64("\0u\0p")
        #expect(plain.line == "AUTH PLAIN AHUAcA==\r\n")
        #expect(!plain.description.contains("AHUAcA"))
        let login = SMTPCommand.authLoginResponse("Passwört")
        #expect(login.line == "UGFzc3fDtnJ0\r\n")
        #expect(!login.description.contains("UGFzc3"))
        let mail = SMTPCommand.mailFrom(Fixture.address("a@b.example"), size: 1234, smtpUTF8: true)
        #expect(mail.line == "MAIL FROM:<a@b.example> SIZE=1234 SMTPUTF8\r\n")
        #expect(SMTPCommand.rcptTo(Fixture.address("c@d.example")).line == "RCPT TO:<c@d.example>\r\n")
        #expect(SMTPCommand.quit.description == "QUIT")
    }

    @Test func dotStuffing() {
        let content = Array(".erste Zeile\r\nzweite\r\n.\r\n..drei\r\nende .\r\n.".utf8)
        #expect(
            DotStuffing.encode(content)
                == Array("..erste Zeile\r\nzweite\r\n..\r\n...drei\r\nende .\r\n..\r\n.\r\n".utf8))
        #expect(DotStuffing.encode(Array("a\r\n".utf8)) == Array("a\r\n.\r\n".utf8))
    }
}

extension SMTPStateMachine.Action {
    /// The same MAIL FROM without SIZE (for servers that did not announce it).
    var withoutSize: Self {
        if case .send(.mailFrom(let address, _, let utf8)) = self {
            return .send(.mailFrom(address, size: nil, smtpUTF8: utf8))
        }
        return self
    }
}
