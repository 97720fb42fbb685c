import Crypto
import Foundation
import Logging
import PostgresNIO
import SMTPClient
import WorkflowEngine

/// One round of sending: claim due mail rows, resolve and word each, send them all over one SMTP
/// session, record per row what happened. The ``OutboxDispatcherService`` runs rounds; tests run them
/// with a clock of their choice.
struct OutboxDispatcher: Sendable {
    let client: PostgresClient
    let directory: any MailDirectory
    let composer: MailComposer
    let settings: MailSettings
    /// Where task mails' decision links are stored.
    let links: DecisionLinkStore
    /// `web.decision_link_days`.
    let linkDays: Int
    let smtp: SMTPClient
    let metrics: AppMetrics?
    let logger: Logger
    /// A number in 0..<1 for the retry jitter.
    let random: @Sendable () -> Double

    init(
        client: PostgresClient, directory: any MailDirectory, composer: MailComposer, settings: MailSettings,
        metrics: AppMetrics?, logger: Logger, linkDays: Int = DecisionLinkStore.defaultDays,
        random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }
    ) throws(SMTPError) {
        self.client = client
        self.links = DecisionLinkStore(client: client, logger: logger)
        self.linkDays = linkDays
        self.directory = directory
        self.composer = composer
        self.settings = settings
        self.smtp = try SMTPClient(configuration: settings.smtp, logger: logger)
        self.metrics = metrics
        self.logger = logger
        self.random = random
    }

    struct RoundReport: Sendable, Hashable {
        var claimed = 0
        /// Rows finished with every recipient reached.
        var sent = 0
        /// Rows scheduled for another attempt.
        var retried = 0
        /// Rows finished with someone who will never get the message.
        var failed = 0
        /// Task mails dropped unsent: the request moved past the task while they waited.
        var moot = 0
        /// Rows whose payload this release cannot read: given back for a newer instance, not failed.
        var unreadable = 0
        /// The SMTP session failed before any message was answered (the server unreachable from here, a
        /// refused login, a certificate): every message of the round is retried.
        var sessionFailed = false
    }

    /// The `Message-ID` of row `id`'s mail to `uid`: the same on every attempt, so a message sent again
    /// after a crash between "accepted" and "marked sent" can be recognised as a duplicate; with the
    /// row's random `key`, so that a row id handed out again after a restore names a new message.
    static func messageID(row id: Int64, key: UUID?, uid: String, host: String) throws(SMTPError) -> MessageID {
        let digest = SHA256.hash(data: Data(uid.lowercased().utf8))
        let tag = digest.prefix(6).map { String(format: "%02x", $0) }.joined()
        let row = key.map { "\(id).\($0.compactHex)" } ?? "\(id)"
        return try MessageID("freigabe.outbox.\(row).\(tag)@\(host)")
    }

    /// What `In-Reply-To` and `References` name, so that all mails about one request form one thread.
    static func threadID(request: UUID, host: String) throws(SMTPError) -> MessageID {
        try MessageID("freigabe.request.\(request.uuidString.lowercased())@\(host)")
    }

    /// One row, prepared: the messages to send and what already went wrong for good.
    private struct Plan {
        var row: ClaimedMail
        var topic: String
        var requestID: UUID?
        var messages: [(uid: String, message: MailMessage)] = []
        /// Permanent, in words: nobody to send to, no address, not in the directory.
        var problems: [String] = []
        /// The whole row must wait (the directory could not be asked).
        var temporaryProblem: String?
        /// Not tried in this round (no time left for its lookups or the session): it goes back as it
        /// was, its attempt given back, due again at once.
        var notAttempted = false
        /// Not to be sent at all, and why: a task the request has moved past while the mail waited.
        var moot: String?
        /// The payload does not decode here (a newer release's shape): given back, neither tried nor failed.
        var unreadable = false
    }

    /// The least time a session is started with (an eighth of the lease if that is shorter); with less
    /// left, the prepared rows go back untried.
    static let minimumSession: Duration = .seconds(5)

    /// Rows of a round prepared at the same time (directory and deputy lookups).
    static let concurrentPreparations = 4

    func runRound(now: Date) async throws -> RoundReport {
        let token = UUID()
        let rows = try await OutboxStore.claim(
            client: client, now: now, limit: settings.batchSize, lease: settings.lease, token: token, logger: logger)
        guard !rows.isEmpty else { return RoundReport() }
        // The rows must be recorded before their lease runs out and another dispatcher may claim them:
        // lookups may start during the first quarter of the lease, the session ends at half of it.
        let claimed = ContinuousClock.now
        let lookupsEnd = claimed + settings.lease / 4
        let sessionEnd = claimed + settings.lease / 2
        // Each row asks the directory for its recipients and the database for their deputies: a few
        // rows at a time, so a round waits for about a quarter of the lookups' sum (`make bench`'s mail
        // delay at 100 decisions/s was bound by them one after the other) while the pages and the API
        // keep most of the connection pool.
        // A row whose lookup has not started when a slow directory has taken the time goes back untried.
        let untried = rows.map { Plan(row: $0, topic: "?", notAttempted: true) }
        var plans = await withTaskGroup(of: (Int, Plan).self) { group in
            var pending = rows.enumerated().makeIterator()
            func startNext() {
                guard ContinuousClock.now < lookupsEnd, let (index, row) = pending.next() else { return }
                group.addTask { (index, await self.prepare(row, now: now)) }
            }
            for _ in 0..<Self.concurrentPreparations { startNext() }
            var plans = untried
            for await (index, plan) in group {
                plans[index] = plan
                startNext()
            }
            return plans
        }

        if sessionEnd - ContinuousClock.now < min(Self.minimumSession, settings.lease / 8) {
            // The lookups took the time a session needs: nothing is sent, nothing is held against the rows.
            for index in plans.indices where !plans[index].messages.isEmpty { plans[index].notAttempted = true }
        }
        var results: [MessageID: DeliveryResult] = [:]
        var sessionError: SMTPError?
        let messages = plans.filter { !$0.notAttempted }.flatMap { $0.messages.map(\.message) }
        if !messages.isEmpty {
            do {
                for result in try await send(messages, until: sessionEnd) { results[result.messageID] = result }
            } catch {
                sessionError = error
                logger.warning(
                    "SMTP session failed; the batch is retried", metadata: ["error": "\(String(reflecting: error))"])
            }
        }
        var report = RoundReport(claimed: rows.count)
        report.sessionFailed = sessionError != nil
        var outcomes: [MailOutcome] = []
        for plan in plans {
            let outcome = self.outcome(of: plan, results: results, sessionError: sessionError, now: now)
            outcomes.append(outcome)
            var rowLogger = logger
            rowLogger[metadataKey: "outbox.id"] = "\(plan.row.id)"
            rowLogger[metadataKey: "outbox.topic"] = "\(plan.topic)"
            if let request = plan.requestID { rowLogger[metadataKey: "request.id"] = "\(request)" }
            if plan.unreadable {
                report.unreadable += 1
                // Id and topic only: the payload holds personal data, and so may the decoder's error.
                rowLogger.warning(
                    "mail row unreadable by this release (written by a newer one?): left for an instance that can read it",
                    metadata: ["outbox.next_attempt": "\(outcome.retryAt.map { "\($0)" } ?? "-")"])
            } else if let moot = plan.moot {
                report.moot += 1
                metrics?.outboxMail("moot")
                rowLogger.info("task mail not sent: the request moved past it", metadata: ["reason": "\(moot)"])
            } else if outcome.retryAt != nil {
                report.retried += 1
                metrics?.outboxMail("retried")
                rowLogger.info(
                    "mail not sent to everybody yet; retried later",
                    metadata: ["outbox.attempts": "\(plan.row.attempts)", "error": "\(outcome.lastError ?? "")"])
            } else if outcome.failedAt != nil {
                report.failed += 1
                metrics?.outboxMail("failed")
                rowLogger.warning(
                    "mail failed for some recipients (freigabe outbox list --failed)",
                    metadata: ["error": "\(outcome.lastError ?? "")"])
            } else {
                report.sent += 1
                metrics?.outboxMail("sent")
                // At info: support is asked "did otto get the task mail?" (`freigabe outbox list --request`
                // answers from the database; this line from the log, with the Message-IDs the SMTP server
                // logged too).
                rowLogger.info(
                    "mail sent",
                    metadata: [
                        "outbox.delivered_to": "\(outcome.deliveredTo.joined(separator: ","))",
                        "mail.message_ids":
                            "\(plan.messages.map { $0.message.messageID.description }.joined(separator: ","))",
                    ])
            }
        }
        // Sent is sent: a database that blinked after the session must not have the batch mailed again.
        let written = try await OutcomeRecording.retrying(until: claimed + settings.lease * 3 / 4, logger: logger) {
            try await OutboxStore.record(outcomes, token: token, client: client, logger: logger)
        }
        if written < outcomes.count {
            // The lease ran out during the session and another dispatcher took the rows: it sends again
            // with the same Message-IDs, receivers drop the duplicates.
            logger.warning(
                "some claimed mail rows were not recorded: taken over after the lease, or recorded by a try whose answer was lost",
                metadata: ["outbox.claimed": "\(outcomes.count)", "outbox.recorded": "\(written)"])
        }
        return report
    }

    /// The session over the batch, ended at `end` (half the lease after the claim) at the latest (each
    /// SMTP step has its own timeout, but twenty slow ones add up): the rows must be recorded before
    /// another dispatcher may claim them again. Cancelling closes the connection, and the session still
    /// reports what the server took by then: those messages are recorded as delivered, never sent again.
    private func send(
        _ messages: [MailMessage], until end: ContinuousClock.Instant
    ) async throws(SMTPError)
        -> [DeliveryResult]
    {
        let smtp = self.smtp
        let deadline = max(end - ContinuousClock.now, .zero)
        typealias Session = Result<[DeliveryResult], SMTPError>
        let (outcome, timedOut) = await withTaskGroup(of: Session?.self, returning: (Session?, Bool).self) { group in
            group.addTask {
                do throws(SMTPError) {
                    return .success(try await smtp.send(messages))
                } catch {
                    return .failure(error)
                }
            }
            group.addTask {
                try? await Task.sleep(for: deadline)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            if let first { return (first, false) }
            // The deadline came first: the cancelled session answers at once (its connection closed).
            for await late in group { if let late { return (late, true) } }
            return (nil, true)
        }
        switch outcome {
        case .success(let results)?: return results
        case .failure(let error)? where !timedOut: throw error
        case .failure, nil:
            throw SMTPError(
                code: .timeout, isTemporary: true,
                details: "session longer than \(deadline) (half the lease after the claim, less the lookups)")
        }
    }

    /// Resolves the row's recipients and words one message per person not reached yet.
    private func prepare(_ row: ClaimedMail, now: Date) async -> Plan {
        var message: OutboxMessage
        do {
            message = try OutboxMessage.decode(fromStoredJSON: row.payload)
        } catch {
            // A rolling update: a newer release may have written a shape this one cannot read. As a topic
            // of a newer release is left to it, so is this row, instead of failing a mail it could send.
            return Plan(row: row, topic: row.topic, unreadable: true)
        }
        var plan = Plan(row: row, topic: message.topic.rawValue, requestID: message.requestID)
        var definition: WorkflowDefinition?
        do {
            if let pin = row.workflow {
                definition = try await composer.definitions.definition(for: pin, client: client, logger: logger)
            }
        } catch {
            plan.temporaryProblem = "Workflow-Definition nicht lesbar: \(String(reflecting: error))"
            return plan
        }
        if let reason = row.standing?.moot(message, definition: definition) {
            plan.moot = reason
            return plan
        }
        let resolved: ResolvedRecipients
        do {
            resolved = try await ResolvedRecipients.resolve(
                row.standing?.addressees(of: message) ?? message.recipients, in: directory)
        } catch {
            plan.temporaryProblem = "Verzeichnis nicht erreichbar: \(String(reflecting: error))"
            return plan
        }
        plan.problems = resolved.problems
        if resolved.people.isEmpty && resolved.problems.isEmpty {
            plan.problems.append("keine Empfänger")
        }
        // Whoever filed the request is never asked to decide it (the engine refuses them, and their
        // deputies acting for them), nor told in a role's words what they did themselves (withdrawn): a
        // role holder or deputy who files a request gets only the requester's mails.
        let requester =
            message.recipients.contains(where: { $0.role == OutboxRecipient.requesterRole })
            ? nil : row.standing?.requester.lowercased()
        let people = resolved.people.filter { $0.uid.lowercased() != requester }
        var recipients: [(person: MailPerson, principal: MailPerson?)] = people.map { ($0, nil) }
        if message.goesToDeputies {
            do {
                recipients += try await deputies(of: people, at: row.createdAt, now: now, problems: &plan.problems)
            } catch {
                plan.temporaryProblem = "Vertretungen nicht lesbar: \(String(reflecting: error))"
                return plan
            }
        }
        // The requester may also be a deputy of one of them.
        if let requester { recipients.removeAll { $0.person.uid.lowercased() == requester } }
        // Nobody is told of a decision as taken in their place who took it, or for whom it was taken: a
        // decider may hold the branch's role, or stand in for someone who does.
        let deciders = Set([message.decidedBy, message.decidedFor].compactMap { $0?.lowercased() })
        recipients.removeAll { deciders.contains($0.person.uid.lowercased()) }
        var requesterName: String?
        // Named by the directory: who filed (for the withdrawal, who withdrew).
        if message.topic.namesTheRequester, let uid = row.standing?.requester {
            requesterName = await name(of: uid)
        }
        // And who decided in the reader's place.
        var deciderName: String?
        if let uid = message.decidedBy { deciderName = await name(of: uid) }
        // A task after a question: the approver decides on the answer, so the mail shows both. Rows
        // written before 2026-12-05 carry them in the payload; only a stay's first task can follow one.
        if message.topic == .requestDecision, message.question == nil, let step = message.step,
            let entered = message.stepEnteredAt,
            let answered = row.standing?.answeredQuestion(step: step, enteredAt: entered)
        {
            (message.question, message.answer) = answered
        }
        // What the approvers attached to their approvals (conditions of use) goes with the grant or the
        // publication: the requester must not learn of them from the request's page only.
        let approvalNotes =
            message.topic == .granted || message.topic == .published
            ? row.standing?.standingApprovalComments() ?? [] : []
        // Links only for the branches still open (an escalation's other branch may have been decided
        // meanwhile). An escalation whose branches were all decided while the step stays overdue tells
        // the instance without offering a decision (the moot check keeps tasks of decided branches back).
        let open = row.standing?.openBranches(in: definition)
        let linkBranches = message.linkBranches.filter { open?.contains($0) ?? true }
        if !message.linkBranches.isEmpty, linkBranches.isEmpty { message.mayDecide = false }
        let done = Set((row.deliveredTo + row.undeliverableTo).map { $0.lowercased() })
        var refusedBySeparation = 0
        for (person, principal) in recipients where !done.contains(person.uid.lowercased()) {
            // Nobody is asked to decide what the engine will not let them decide (separation of duties: an
            // owner who is also DSB and approved the owner step); their links only for what they may.
            // An escalation still tells such an instance that the step is overdue, without offering it.
            var personal = message
            var branches = linkBranches
            if message.topic.asksToDecide, let snapshot = row.standing?.snapshot {
                branches.removeAll {
                    snapshot.separationOfDutiesRefuses(person: person.uid, actingFor: principal?.uid, branch: $0)
                }
                if branches.isEmpty, !linkBranches.isEmpty {
                    guard message.topic == .escalated else {
                        refusedBySeparation += 1
                        continue
                    }
                    personal.mayDecide = false
                }
            }
            guard let mail = person.mail else {
                plan.problems.append("\(person.uid): keine Mailadresse im Verzeichnis")
                logger.warning(
                    "recipient has no mail address in the directory",
                    metadata: ["outbox.id": "\(row.id)", "recipient": "\(person.uid)"])
                continue
            }
            do {
                var tokens: [BranchLinks] = []
                if personal.topic.carriesDecisionLinks(mayDecide: personal.mayDecide), let step = message.step {
                    do {
                        // The step's deadline as the request stands now, if it is still that step.
                        let deadline: Date? =
                            if case .inReview(let progress)? = row.standing?.snapshot?.state, progress.step == step {
                                progress.deadline
                            } else {
                                nil
                            }
                        tokens = try await links.mint(
                            requestID: message.requestID, step: step, stepEnteredAt: message.stepEnteredAt,
                            branches: branches, uid: person.uid,
                            actions: composer.linkActions(step: step, definition: definition), now: now,
                            days: linkDays, deadline: deadline)
                    } catch {
                        // The mail still goes, with the link to the request page; deciding there works.
                        logger.warning(
                            "decision links could not be stored", metadata: ["error": "\(String(reflecting: error))"])
                    }
                }
                let composed = try composer.compose(
                    personal, details: row.details, facts: row.standing?.snapshot?.facts, requester: requesterName,
                    definition: definition,
                    for: person, deputyFor: principal?.displayName, links: tokens, decidedBy: deciderName,
                    approvalNotes: approvalNotes)
                let thread = try Self.threadID(request: message.requestID, host: settings.hostName)
                let mailMessage = try MailMessage(
                    messageID: try Self.messageID(
                        row: row.id, key: row.deliveryKey, uid: person.uid, host: settings.hostName),
                    // When it happened, not when this attempt runs: a resend is the same message.
                    date: row.createdAt,
                    from: settings.from,
                    to: [Mailbox(try EmailAddress(mail), displayName: person.displayName)],
                    subject: composed.subject, textBody: composed.text, htmlBody: composed.html,
                    inReplyTo: thread, references: [thread])
                plan.messages.append((person.uid, mailMessage))
            } catch let error as MailComposer.MissingTemplate {
                plan.problems.append("\(person.uid): \(error)")
            } catch {
                plan.problems.append("\(person.uid): Adresse „\(mail)“ unbrauchbar (\(error))")
            }
        }
        // A task the role's holders exist for but none of them may take (they filed the request, or
        // decided another part of it): sent to nobody, the row would read "sent" and the step wait unseen
        // until its deadline. Failed, it stands in the outbox list for the operator and the governance office.
        if message.topic != .escalated, message.topic.asksToDecide, !resolved.people.isEmpty, done.isEmpty,
            recipients.count == refusedBySeparation
        {
            plan.problems.append(
                "niemand darf entscheiden: alle Empfänger haben den Antrag gestellt oder sind durch Aufgabentrennung ausgeschlossen"
            )
        }
        return plan
    }

    /// How a mail names whoever filed the request: „Maria Müller (mmueller)“ as the directory knows
    /// them. The uid alone when the directory does not know them (any more) or does not answer: the
    /// recipients were just looked up, and a mail is not held back longer for a name than for them.
    private func name(of uid: String) async -> String {
        do {
            return try await directory.person(uid: uid)?.nameWithUID ?? uid
        } catch {
            logger.notice(
                "requester's name not read from the directory; the mail names the uid",
                metadata: ["error": "\(String(reflecting: error))"])
            return uid
        }
    }

    /// The deputies of `people` when the event happened (a principal away names one in Freigabe) whose
    /// deputyship has not ended by now: they get their own copy, saying whom they stand in for. Someone
    /// already among `people` gets one mail.
    private func deputies(
        of people: [MailPerson], at instant: Date, now: Date, problems: inout [String]
    ) async throws -> [(person: MailPerson, principal: MailPerson?)] {
        let pairs = try await OutboxStore.deputies(
            of: people.map(\.uid), at: instant, stillAt: now, client: client, logger: logger)
        var seen = Set(people.map { $0.uid.lowercased() })
        var result: [(person: MailPerson, principal: MailPerson?)] = []
        for (deputy, principal) in pairs where seen.insert(deputy.lowercased()).inserted {
            guard let person = try await directory.person(uid: deputy) else {
                problems.append("\(deputy) (Vertretung von \(principal)): nicht im Verzeichnis")
                continue
            }
            result.append((person, people.first { $0.uid == principal }))
        }
        return result
    }

    /// Who got it, who never will, and whether to try again.
    private func outcome(
        of plan: Plan, results: [MessageID: DeliveryResult], sessionError: SMTPError?, now: Date
    ) -> MailOutcome {
        if let moot = plan.moot {
            return MailOutcome(
                id: plan.row.id, deliveredTo: plan.row.deliveredTo, undeliverableTo: plan.row.undeliverableTo,
                sentAt: now, lastError: "nicht gesendet, überholt: \(moot)")
        }
        if plan.unreadable {
            let pause = settings.retrySchedule.pauseWhileUnreadable(
                age: now.timeIntervalSince(plan.row.createdAt), random: random())
            return MailOutcome(
                id: plan.row.id, deliveredTo: plan.row.deliveredTo, undeliverableTo: plan.row.undeliverableTo,
                lastError: RetrySchedule.unreadableError,
                retryAt: now.addingTimeInterval(pause.seconds),
                released: true)
        }
        guard !plan.notAttempted else {
            return MailOutcome(
                id: plan.row.id, deliveredTo: plan.row.deliveredTo, undeliverableTo: plan.row.undeliverableTo,
                retryAt: now, released: true)
        }
        var delivered = plan.row.deliveredTo
        var undeliverable = plan.row.undeliverableTo
        var permanent = plan.problems
        var temporary: [String] = plan.temporaryProblem.map { [$0] } ?? []
        for (uid, message) in plan.messages {
            guard let result = results[message.messageID] else {
                temporary.append("\(uid): \(sessionError.map { $0.description } ?? "nicht gesendet")")
                continue
            }
            for recipient in result.recipients {
                switch recipient.outcome {
                case .delivered:
                    delivered.append(uid)
                case .failed(let error) where error.isTemporary:
                    temporary.append("\(uid): \(Self.describe(error))")
                case .failed(let error):
                    undeliverable.append(uid)
                    permanent.append("\(uid): \(Self.describe(error))")
                }
            }
        }
        if !undeliverable.isEmpty && permanent.isEmpty {
            permanent.append("früher abgelehnt: \(undeliverable.joined(separator: ", "))")
        }
        let permanentText = permanent.isEmpty ? nil : "dauerhaft: " + permanent.joined(separator: "; ")
        var outcome = MailOutcome(id: plan.row.id, deliveredTo: delivered, undeliverableTo: undeliverable)
        guard !temporary.isEmpty else {
            outcome.sentAt = now
            outcome.failedAt = permanent.isEmpty ? nil : now
            outcome.lastError = permanentText
            return outcome
        }
        let temporaryText = "vorübergehend: " + temporary.joined(separator: "; ")
        let text = [temporaryText, permanentText].compactMap { $0 }.joined(separator: " | ")
        if let delay = settings.retrySchedule.delay(afterFailedAttempts: plan.row.attempts, random: random()) {
            outcome.retryAt = now.addingTimeInterval(delay.seconds)
            outcome.lastError = String(text.prefix(2000))
        } else {
            outcome.sentAt = now
            outcome.failedAt = now
            outcome.lastError = String(("aufgegeben nach \(plan.row.attempts) Versuchen; " + text).prefix(2000))
        }
        return outcome
    }

    /// The error with the server's reply (what an operator needs to act), never credentials.
    private static func describe(_ error: SMTPError) -> String {
        if let reply = error.reply { return "\(error.code) \(reply)" }
        return error.description
    }
}
