import AuditLog
import Configuration
import Foundation
import Logging
import PostgresNIO

/// `freigabe audit keygen | seal | verify | export`: the decision log's keys, its checks and its exports,
/// for operators and auditors. Database access as the application role with the `FREIGABE_DB_*`
/// settings; `verify --export` needs no database.
public enum AuditTool {
    /// What is wrong with `audit verify`'s offline options, in the tools' language; nil when they fit.
    public static func offlineOptionsProblem(export: String?, checkpoint: String?, retentionYears: Int?) -> String? {
        if export != nil, checkpoint == nil {
            return "--export braucht --checkpoint: die Checkpoints außerhalb der Datenbank (audit.checkpoint_file "
                + "oder die Datei, die die Ausfuhr nennt), an denen sie geprüft wird."
        }
        guard let retentionYears else { return nil }
        guard export != nil else {
            return "--retention-years gilt nur mit --export; in der Datenbank gilt audit.retention_years."
        }
        guard (1...100).contains(retentionYears) else {
            return "--retention-years muss zwischen 1 und 100 liegen (Jahre der Aufbewahrungsfrist)."
        }
        return nil
    }

    /// Writes a new private key to `path` (readable by its owner only; refuses to overwrite) and prints
    /// the public verifier key to give to auditors and keep outside the database.
    public static func keygen(name: String, path: String) -> ToolOutput {
        do {
            let signer = try NoteSigner.generate(keyName: name)
            switch PrivateFile.create(path, contents: Array((signer.privateKeyFileContents + "\n").utf8)) {
            case .created: break
            case .exists:
                return ToolOutput(
                    standardError: ["„\(path)“ gibt es schon; ein Schlüssel wird nie überschrieben."], succeeded: false)
            case .failed(let reason):
                return ToolOutput(
                    standardError: ["„\(path)“ kann nicht geschrieben werden: \(reason)"], succeeded: false)
            }
            return ToolOutput(standardOutput: [
                "Privater Schlüssel: \(path) (audit.key_file)",
                "Öffentlicher Prüfschlüssel (für Prüfer, außerhalb der Datenbank aufbewahren):",
                signer.verifierKey.vkey,
            ])
        } catch {
            return ToolOutput(standardError: ["Kein Schlüssel erzeugt: \(error)"], succeeded: false)
        }
    }

    /// Seals every event not sealed yet and signs a checkpoint (what the server does every second), with
    /// `audit.key_file` and `audit.checkpoint_file` from `reader` (options, environment, file). Fails when
    /// another instance was sealing (nothing done: try again) or a checkpoint did not reach the file: a
    /// script that keeps the outside copy trusts the exit status.
    ///
    /// With `startCheckpointFile` it first begins a missing or empty `audit.checkpoint_file` with the
    /// database's newest signed checkpoint (``AuditSealer/startCheckpointFile(logger:)``): the sealer
    /// refuses to sign while the outside copy of a signed log is missing.
    public static func seal(
        reader: ConfigReader, environment: [String: String], startCheckpointFile: Bool = false
    ) async -> ToolOutput {
        let audit: AuditSettings
        do {
            audit = try AuditSettings.read(SettingValues(reader: reader))
        } catch {
            return ToolOutput(standardError: ["Nicht versiegelt: \(error)"], succeeded: false)
        }
        if startCheckpointFile, audit.checkpointFile == nil {
            return ToolOutput(
                standardError: ["Nicht versiegelt: --start-checkpoint-file braucht audit.checkpoint_file."],
                succeeded: false)
        }
        return await withDatabase(environment, failure: "Versiegeln fehlgeschlagen") {
            client, _, logger in
            let signer = try audit.signer()
            let sealer = AuditSealer(client: client, signer: signer, checkpointFile: audit.checkpointFile)
            var begun: [String] = []
            if startCheckpointFile, let file = audit.checkpointFile {
                do {
                    let size = try await sealer.startCheckpointFile(logger: logger)
                    begun.append(
                        size.map {
                            "Checkpoint-Datei „\(file)“ begonnen mit dem neuesten signierten Checkpoint der "
                                + "Datenbank (Baumgröße \($0))."
                        }
                            ?? "Checkpoint-Datei „\(file)“: noch nichts signiert, der erste Checkpoint beginnt sie.")
                } catch is AuditSealer.CheckpointFileInUse {
                    return ToolOutput(
                        standardError: [
                            "Nicht versiegelt: „\(file)“ ist nicht leer; was darin steht, ist die Kopie, gegen die "
                                + "versiegelt wird. Eine neue Datei nur, wo die alte fehlt oder unbrauchbar ist: die alte "
                                + "beiseitelegen (nicht löschen, sie zeigt, was verloren ging), dann erneut."
                        ], succeeded: false)
                }
            }
            let sealed: AuditSealer.Run?
            do {
                sealed = try await sealer.sealRemaining(now: Date(), logger: logger)
            } catch let missing as AuditSealer.OutsideCopyMissing {
                return ToolOutput(
                    standardOutput: begun,
                    standardError: [
                        "Nicht versiegelt: Die Checkpoint-Datei „\(missing.path)“ (audit.checkpoint_file) fehlt, ist "
                            + "leer oder enthält keinen Checkpoint; die Datenbank hat aber signierte Checkpoints bis "
                            + "Baumgröße \(missing.signedTreeSize), zuletzt nach „\(missing.lastWritten)“ geschrieben: "
                            + "die Kopie außerhalb der Datenbank ist weg. Die Datei zurückholen, oder eine neue beginnen: "
                            + "freigabe audit seal --start-checkpoint-file (README: „Restoring the database from a "
                            + "backup“)."
                    ], succeeded: false)
            } catch let newer as AuditSealer.NewerRelease {
                return ToolOutput(
                    standardOutput: begun,
                    standardError: [
                        "Nicht versiegelt: Die Datenbank trägt Migration \(newer.applied), diese Version kennt nur bis "
                            + "\(newer.known). Bitte mit der neueren Version versiegeln."
                    ], succeeded: false)
            }
            guard let run = sealed else {
                return ToolOutput(
                    standardOutput: begun,
                    standardError: [
                        "Eine andere Instanz versiegelt gerade; nichts versiegelt. Bitte erneut versuchen."
                    ],
                    succeeded: false)
            }
            let line =
                "Protokoll versiegelt: \(run.treeSize) Ereignisse im Baum"
                + (signer == nil ? ", Checkpoint ohne Signatur (audit.key_file nicht gesetzt)." : ".")
            if run.outsideCopyFailed, let file = audit.checkpointFile {
                return ToolOutput(
                    standardOutput: begun + [line],
                    standardError: [
                        "Der Checkpoint konnte nicht an „\(file)“ angehängt werden (audit.checkpoint_file)."
                    ],
                    succeeded: false)
            }
            return ToolOutput(standardOutput: begun + [line])
        }
    }

    /// Checks the whole log against the public key; succeeds only when every check holds. `progress` gets
    /// a line every ten seconds while the events are read (the command line writes it to stderr).
    /// - Parameter retentionYears: the retention period erasures are held to (`audit.retention_years`;
    ///   nil accepts any from 1 to 100 years).
    /// - Parameter checkpointFile: the outside copy of the checkpoints (`--checkpoint`), checked with the
    ///   database's (``AuditVerification/outsideCheckpoints``).
    public static func verify(
        publicKeyFile: String, retentionYears: Int? = nil, checkpointFile: String? = nil,
        environment: [String: String], progress: (@Sendable (String) -> Void)? = nil
    ) async -> ToolOutput {
        let keys: TrustedKeys
        switch Self.trustedKeys(in: publicKeyFile) {
        case .success(let read): keys = read
        case .failure(let refusal): return refusal.output
        }
        var outside: [CheckpointRecord] = []
        if let checkpointFile {
            let (read, refusal) = Self.checkpoints(in: checkpointFile)
            if let refusal { return refusal }
            outside = read
        }
        return await withDatabase(environment, failure: "Prüfung nicht möglich", longReads: true) {
            [outside] client, role, logger in
            var verification = AuditVerification(client: client, keys: keys, appRole: role)
            verification.retentionYears = retentionYears
            verification.outsideCheckpoints = outside
            if let progress {
                verification.progress = { checked, places in
                    progress(Self.progressLine(checked: checked, of: places))
                }
            }
            let report = try await verification.run(logger: logger)
            var lines: [String] = []
            if let summary = report.summary {
                lines.append(
                    "Ereignisse: \(summary.treeSize), davon von signierten Checkpoints gedeckt: \(summary.coveredSize), "
                        + "Checkpoints: \(summary.checkpointCount), Wurzel: \(summary.rootHash.base64)")
            }
            lines += Self.redactionLines(report.summary?.redactions ?? [:])
            guard report.holds else {
                return ToolOutput(
                    standardOutput: lines, standardError: report.problems.map { "FEHLER: \($0)" }, succeeded: false)
            }
            return ToolOutput(standardOutput: lines + ["Das Protokoll ist unverändert (alle Prüfungen bestanden)."])
        }
    }

    /// "1.230.000 von 10.020.000 Ereignissen geprüft (12 %) …", with German digit grouping.
    static func progressLine(checked: UInt64, of places: UInt64) -> String {
        let grouped = { (number: UInt64) -> String in
            let digits = Array(String(number))
            return stride(from: digits.count, to: 0, by: -3).reversed()
                .map { String(digits[max($0 - 3, 0)..<$0]) }.joined(separator: ".")
        }
        let percent = places > 0 ? min(checked * 100 / places, 100) : 100
        return "\(grouped(checked)) von \(grouped(places)) Ereignissen geprüft (\(percent) %) …"
    }

    /// The filters and output of `freigabe audit export`, as typed on the command line.
    public struct ExportRequest: Sendable {
        public var format: AuditExportFormat
        public var from: String?
        public var to: String?
        public var dataset: String?
        public var person: String?
        public var request: String?
        public var types: [String]
        public var domain: String?
        public var role: String?
        public var decision: String?
        /// `deputy` or `escalation`, checked by ``AuditFilter/parse(from:to:dataset:person:request:types:domain:role:decision:capacity:)``.
        public var capacity: String?
        /// A file, or `-` for standard output.
        public var output: String
        public var csv: CSVOptions

        public init(
            format: AuditExportFormat, from: String? = nil, to: String? = nil, dataset: String? = nil,
            person: String? = nil, request: String? = nil, types: [String] = [], domain: String? = nil,
            role: String? = nil, decision: String? = nil, capacity: String? = nil, output: String,
            csv: CSVOptions = CSVOptions()
        ) {
            self.format = format
            self.from = from
            self.to = to
            self.dataset = dataset
            self.person = person
            self.request = request
            self.types = types
            self.domain = domain
            self.role = role
            self.decision = decision
            self.capacity = capacity
            self.output = output
            self.csv = csv
        }
    }

    /// Streams the sealed events matching the filters against the newest signed checkpoint. Filters are
    /// checked before anything is opened; a failed export leaves no file.
    public static func export(_ request: ExportRequest, environment: [String: String]) async -> ToolOutput {
        let filter: AuditFilter
        do throws(AuditFilterError) {
            filter = try AuditFilter.parse(
                from: request.from, to: request.to, dataset: request.dataset, person: request.person,
                request: request.request, types: request.types, domain: request.domain, role: request.role,
                decision: request.decision, capacity: request.capacity)
        } catch {
            return ToolOutput(standardError: ["Kein Export: \(error)"], succeeded: false)
        }
        return await withDatabase(environment, failure: "Export fehlgeschlagen") { client, _, logger in
            let exporter = AuditExporter(query: AuditQuery(client: client))
            // Nothing is opened before the checkpoint is known.
            guard try await exporter.query.latestSignedCheckpoint(logger: logger) != nil else {
                return ToolOutput(
                    standardError: ["Kein Export: \(AuditExportError.noSignedCheckpoint)"], succeeded: false)
            }
            let output = try ExportOutput.open(request.output)
            let result: AuditExporter.Result
            do {
                result = try await exporter.export(
                    filter, format: request.format, csv: request.csv, to: output, logger: logger)
            } catch {
                output.abandon()
                throw error
            }
            let line =
                "\(result.eventCount) Ereignisse exportiert (Checkpoint: Baumgröße \(result.treeSize)"
                + (filter.isEmpty ? ", vollständig)" : ", gefiltert, mit Inklusionsbeweisen)")
            // On standard output the export itself is the output.
            return request.output == "-"
                ? ToolOutput(standardError: [line]) : ToolOutput(standardOutput: [line + " → \(request.output)"])
        }
    }

    /// The verifier keys of `path`: the one `audit keygen` printed, or after a rotation one per line
    /// (the current one and those it replaced, all under the log's name).
    static func trustedKeys(in path: String) -> Result<TrustedKeys, ToolOutput.Refusal> {
        do {
            return .success(try TrustedKeys(parsing: try String(contentsOfFile: path, encoding: .utf8)))
        } catch {
            return .failure(ToolOutput.Refusal("Der Prüfschlüssel „\(path)“ ist nicht lesbar: \(error)"))
        }
    }

    /// Checks an export offline: no database, only the export, the trusted checkpoints and the public key.
    public static func verifyExport(
        exportFile: String, checkpointFile: String, publicKeyFile: String, retentionYears: Int? = nil,
        readers: Int? = nil
    ) -> ToolOutput {
        let keys: TrustedKeys
        let checkpoints: [CheckpointRecord]
        switch Self.trustedKeys(in: publicKeyFile) {
        case .success(let read): keys = read
        case .failure(let refusal): return refusal.output
        }
        let (read, refusal) = Self.checkpoints(in: checkpointFile)
        if let refusal { return refusal }
        checkpoints = read
        let lines: FileLines
        do {
            lines = try FileLines(path: exportFile)
        } catch {
            return ToolOutput(
                standardError: ["Der Export „\(exportFile)“ ist nicht lesbar: \(error)"], succeeded: false)
        }
        var verifier = ExportVerifier(keys: keys)
        verifier.readers = readers
        let result = verifier.verify(lines: lines, checkpoints: checkpoints)
        if let readError = lines.readError {
            return ToolOutput(
                standardError: ["Der Export „\(exportFile)“ ist nicht lesbar: \(readError)"], succeeded: false)
        }
        switch result {
        case .failure(let failure):
            return ToolOutput(standardError: ["FEHLER: \(failure)"], succeeded: false)
        case .success(let summary):
            let what =
                switch (summary.kind, summary.selection) {
                case (.csv, .complete):
                    "vollständiger CSV-Export: alle \(summary.eventCount) Zeilen ergeben, neu kodiert, die signierte "
                        + "Wurzel"
                case (.csv, .filtered):
                    "gefilterter CSV-Export: jede der \(summary.eventCount) Zeilen liegt, neu kodiert, im signierten "
                        + "Baum (Vollständigkeit der Auswahl ist damit nicht bewiesen)"
                case (.jsonLines, .complete):
                    "vollständiger Export: alle \(summary.eventCount) Ereignisse ergeben die signierte Wurzel"
                case (.jsonLines, .filtered):
                    "gefilterter Export: jedes der \(summary.eventCount) Ereignisse liegt im signierten Baum "
                        + "(Vollständigkeit der Auswahl ist damit nicht bewiesen)"
                }
            var lines = [
                "Checkpoint: Baumgröße \(summary.treeSize), Wurzel \(summary.checkpoint.rootHash.base64)"
                    + (summary.checkpoint.time.map { ", Zeit \($0)" } ?? ""),
                "Geprüft: \(what).",
            ]
            if let later = summary.laterCheckpointTreeSize {
                lines.append(
                    "Hinweis: Die Checkpoint-Kopie reicht bis Baumgröße \(later); dieser Export endet bei "
                        + "\(summary.treeSize) und enthält die späteren Ereignisse nicht.")
            }
            lines += Self.redactionLines(summary.redactions)
            lines += summary.erasureRecords.map(Self.erasureLine)
            if let retentionYears {
                // The export cannot know the city's retention period: the reader gives it, and every
                // erasure must have kept the log at least that long (as `audit verify` in the database).
                if let short = summary.erasureRecords.first(where: { ($0.retentionYears ?? 0) < retentionYears }) {
                    return ToolOutput(
                        standardOutput: lines,
                        standardError: [
                            "FEHLER: Die Löschung in Ereignis \(short.position) hielt das Protokoll nur "
                                + "\(short.retentionYears ?? 0) Jahre; die Aufbewahrungsfrist ist \(retentionYears) Jahre "
                                + "(--retention-years)."
                        ], succeeded: false)
                }
                if summary.selection == .filtered, !summary.redactions.isEmpty {
                    lines.append(
                        "  (Die Aufbewahrungsfrist der Löschungen ist in diesem Export nicht geprüft; "
                            + "das kann der vollständige Export.)")
                }
            }
            if summary.selection == .filtered, !summary.redactions.isEmpty {
                // The erasure's own payloads_redacted event is what proves who erased when; a selection
                // need not hold it (a complete export must).
                lines.append(
                    "  (Zeitpunkt und Urheber der Löschungen sind in einem Teilexport nicht geprüft; "
                        + "das kann der vollständige Export.)")
            }
            return ToolOutput(standardOutput: lines + ["Der Export ist unverändert (alle Prüfungen bestanden)."])
        }
    }

    /// The notes of a checkpoint file (`--checkpoint`), or the refusal to print when it cannot be read or
    /// holds none.
    static func checkpoints(in checkpointFile: String) -> ([CheckpointRecord], refusal: ToolOutput?) {
        let checkpoints: [CheckpointRecord]
        do {
            let text = try String(contentsOfFile: checkpointFile, encoding: .utf8)
            checkpoints = CheckpointFile.numberedNotes(in: text).map {
                CheckpointRecord(signedNote: $0.note, source: "\(checkpointFile):\($0.line)")
            }
        } catch {
            return (
                [],
                ToolOutput(
                    standardError: ["Die Checkpoint-Datei „\(checkpointFile)“ ist nicht lesbar: \(error)"],
                    succeeded: false)
            )
        }
        guard !checkpoints.isEmpty else {
            return ([], ToolOutput(standardError: ["„\(checkpointFile)“ enthält keinen Checkpoint."], succeeded: false))
        }
        return (checkpoints, nil)
    }

    /// One `payloads_redacted` event: when, the cut-off and the retention period it states (checked to
    /// lie that long before the erasure).
    static func erasureLine(_ record: ErasureRecord) -> String {
        "  Löschung in Ereignis \(record.position) am \(record.occurredAt.rfc3339 ?? "?"): Inhalte vor "
            + "\(record.erasedBefore?.rfc3339 ?? "?"), Aufbewahrungsfrist \(record.retentionYears ?? 0) Jahre"
    }

    /// "Inhalt gelöscht am … von …" per erasure, oldest first: what the check took on trust of the tree.
    static func redactionLines(_ redactions: [Redaction: UInt64]) -> [String] {
        guard !redactions.isEmpty else { return [] }
        let total = redactions.values.reduce(0, +)
        return ["Davon mit gelöschtem Inhalt (nur über den Hash geprüft): \(total)"]
            + redactions.sorted { ($0.key.redactedAt, $0.key.redactedBy) < ($1.key.redactedAt, $1.key.redactedBy) }
            .map { redaction, count in
                "  \(count) gelöscht am \(redaction.redactedAt.rfc3339 ?? "?") von \(ToolOutput.oneLine(redaction.redactedBy))"
            }
    }

    /// `freigabe audit redact --before DATE [--actor UID]`: erases the personal payloads of the sealed
    /// events before DATE (``AuditRedaction``). Everything is checked before the database is opened; a
    /// refusal changes nothing and fails. Runs as the owner role (`db.admin_user`): the application role
    /// may not erase.
    public static func redact(
        before: String, actor: String?, dryRun: Bool = false, settings audit: AuditSettings,
        environment: [String: String], now: Date = Date()
    ) async -> ToolOutput {
        let order: AuditRedaction.Order
        do throws(RedactionRefusal) {
            var checked = try AuditRedaction.order(
                before: before, actor: actor, osUser: Self.operatingSystemUser(), retentionYears: audit.retentionYears,
                now: now)
            checked.dryRun = dryRun
            order = checked
        } catch {
            return ToolOutput(standardError: ["\(error)"], succeeded: false)
        }
        let settings: DatabaseSettings
        do {
            settings = try DatabaseSettings(environment: environment)
        } catch {
            return ToolOutput(standardError: ["Konfigurationsfehler: \(error)"], succeeded: false)
        }
        guard settings.adminUser != nil else {
            return ToolOutput(standardError: ["\(RedactionRefusal.noOwnerRole)"], succeeded: false)
        }
        var logger = Logger(label: "freigabe.audit")
        logger.logLevel = .warning
        do {
            let outcome = try await Database.withClient(settings, admin: true, logger: logger) { [logger] client in
                try await AuditRedaction(client: client).run(order, logger: logger)
            }
            let day = AuditTimestamp(order.before).rfc3339 ?? before
            let closed = outcome.requestCount - outcome.abandonedCount
            // Closed and abandoned (a draft, an unanswered question) apart: the second kept its state.
            let requests = "\(closed) abgeschlossenen und \(outcome.abandonedCount) liegen gebliebenen Anträgen"
            let requestsEnglish =
                "\(outcome.requestCount) requests (\(closed) closed, \(outcome.abandonedCount) abandoned)"
            let copies = outcome.copies
            let copiesLine =
                copies.isEmpty
                ? []
                : [
                    (dryRun ? "Außerdem würden gelöscht: " : "Außerdem gelöscht: ")
                        + "\(copies.messages) Benachrichtigungen, \(copies.storedAnswers) gespeicherte API-Antworten "
                        + "und \(copies.links) Entscheidungslinks. (Also " + (dryRun ? "to be erased" : "erased")
                        + ": \(copies.messages) notifications, \(copies.storedAnswers) stored answers, "
                        + "\(copies.links) decision links.)"
                ]
            if dryRun && outcome.erasedCount > 0 {
                // Counted in a transaction that was rolled back: nothing is recorded, nothing gone.
                return ToolOutput(
                    standardOutput: [
                        "Probelauf: Inhalt von \(outcome.erasedCount) Ereignissen und Texte von \(requests) "
                            + "vor \(day) würden gelöscht (alle geprüft: unverändert seit dem "
                            + "Versiegeln); nichts gelöscht. (Dry run: \(outcome.erasedCount) events and "
                            + "\(requestsEnglish) would be erased; nothing erased.)"
                    ] + copiesLine)
            }
            guard let id = outcome.redactionID else {
                return ToolOutput(standardOutput: [
                    "Keine versiegelten Ereignisse vor \(day) mit Inhalt; nichts gelöscht. "
                        + "(Nothing due before \(day); nothing erased.)"
                ])
            }
            return ToolOutput(
                standardOutput: [
                    "Inhalt von \(outcome.erasedCount) Ereignissen und Texte von \(requests) "
                        + "vor \(day) gelöscht (Löschung #\(id) von \(order.actor), "
                        + "Datenbankrolle \(outcome.databaseRole ?? "?"), Aufbewahrungsfrist \(order.retentionYears) Jahre)."
                ] + copiesLine + [
                    "Die Löschung ist selbst ein Ereignis des Protokolls (payloads_redacted) und wird mit dem nächsten "
                        + "Checkpoint versiegelt; freigabe audit verify prüft weiter alles."
                ])
        } catch let refusal as RedactionRefusal {
            return ToolOutput(standardError: ["\(refusal)"], succeeded: false)
        } catch {
            let text = Database.serverMessage(of: error) ?? String(describing: Database.serviceError(from: error))
            return ToolOutput(standardError: ["Nichts gelöscht: \(text)"], succeeded: false)
        }
    }

    /// ``verify(publicKeyFile:retentionYears:environment:progress:)`` with `audit.retention_years` from
    /// the configuration (environment, `--config` file; default 10 years).
    public static func verify(
        publicKeyFile: String, checkpointFile: String? = nil, reader: ConfigReader, environment: [String: String],
        progress: (@Sendable (String) -> Void)? = nil
    ) async -> ToolOutput {
        let years: Int
        do {
            years = try AuditSettings.retentionYears(SettingValues(reader: reader))
        } catch {
            return ToolOutput(standardError: ["Prüfung nicht möglich: \(error)"], succeeded: false)
        }
        return await verify(
            publicKeyFile: publicKeyFile, retentionYears: years, checkpointFile: checkpointFile,
            environment: environment, progress: progress)
    }

    /// ``redact(before:actor:settings:environment:now:)`` with `audit.retention_years` from the
    /// configuration (environment, `--config` file).
    public static func redact(
        before: String, actor: String?, dryRun: Bool = false, reader: ConfigReader, environment: [String: String]
    ) async -> ToolOutput {
        // The retention alone: erasing needs no signing key, and a key file this account may not read
        // (the server's) must not stop it.
        let settings: AuditSettings
        do {
            settings = AuditSettings(retentionYears: try AuditSettings.retentionYears(SettingValues(reader: reader)))
        } catch {
            return ToolOutput(standardError: ["Nichts gelöscht: \(error)"], succeeded: false)
        }
        return await redact(
            before: before, actor: actor, dryRun: dryRun, settings: settings, environment: environment)
    }

    /// The account running the command, recorded with the erasure beside `--actor`.
    static func operatingSystemUser() -> String? {
        guard let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name else { return nil }
        return String(cString: name)
    }

    /// `verify`'s deadlines. Some of its statements take the whole log (the counts of sealed rows, the
    /// stream of every request's state), so the server gives each ``longReadStatementTimeout`` unless
    /// `FREIGABE_DB_STATEMENT_TIMEOUT_SECONDS` says otherwise (the server's 4 s would end it on a large
    /// log), and this process waits for each of its reads (``Database/read(_:logger:_:)``) that long and
    /// ``longReadGrace`` more, then closes the connection: a database that stops answering ends the
    /// command with an error instead of holding it, and the operator, for ever. `export` needs none of
    /// this: it reads in short batches under the store's own deadlines, as the API's download does.
    static func longReadTimeouts(
        _ timeouts: DatabaseSettings.Timeouts, environment: [String: String]
    ) -> DatabaseSettings.Timeouts {
        var timeouts = timeouts
        if environment["FREIGABE_DB_STATEMENT_TIMEOUT_SECONDS"] == nil { timeouts.statement = longReadStatementTimeout }
        timeouts.transaction = max(timeouts.transaction, timeouts.statement + longReadGrace)
        // Its range reads run several at once (one per core) and wait for each other's connections
        // when the pool is smaller: within the same bound, not the server's 3 s.
        timeouts.poolWait = timeouts.transaction
        return timeouts
    }

    static let longReadStatementTimeout: Duration = .seconds(600)
    /// How much longer than the server's statement timeout the client waits: the server's own
    /// cancellation reaches it in milliseconds when the server still answers.
    static let longReadGrace: Duration = .seconds(5)

    private static func withDatabase(
        _ environment: [String: String], failure: String, longReads: Bool = false,
        _ body: @escaping @Sendable (PostgresClient, String, Logger) async throws -> ToolOutput
    ) async -> ToolOutput {
        var logger = Logger(label: "freigabe.audit")
        logger.logLevel = .warning
        // The application role's name, which must not own the log's tables (empty: the settings are bad,
        // and the helper below says so before anything runs).
        let role = (try? DatabaseSettings(environment: environment))?.user ?? ""
        return await ToolOutput.withApplicationDatabase(
            environment: environment, logger: logger, failure: failure,
            adjusting: { settings in
                if longReads { settings.timeouts = longReadTimeouts(settings.timeouts, environment: environment) }
            }
        ) { [logger] client in try await body(client, role, logger) }
    }
}
