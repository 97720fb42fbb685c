import AuditLog
import Foundation

/// Where the decision log's keys and outside copies live (`audit.*`).
public struct AuditSettings: Sendable, Hashable {
    /// The log's name in checkpoints when no key names it.
    public static let defaultOrigin = "freigabe/audit"

    /// The private key file `freigabe audit keygen` wrote; nil: checkpoints are not signed.
    public var keyFile: String?
    /// A file every signed checkpoint is appended to.
    public var checkpointFile: String?
    /// How often the sealer looks for new events.
    public var sealInterval: Duration
    /// How many years personal payloads are kept: `freigabe audit redact --before DATE` refuses a DATE
    /// later than this many years ago.
    public var retentionYears: Int

    /// The retention unless `audit.retention_years` says otherwise: ten years, as German records
    /// retention rules for decisions commonly demand.
    public static let defaultRetentionYears = 10
    /// What `audit.retention_years` accepts (the database function `audit_redact` checks the same).
    public static let retentionYearsRange = 1...100

    public init(
        keyFile: String? = nil, checkpointFile: String? = nil, sealInterval: Duration = .seconds(1),
        retentionYears: Int = defaultRetentionYears
    ) {
        self.keyFile = keyFile
        self.checkpointFile = checkpointFile
        self.sealInterval = sealInterval
        self.retentionYears = retentionYears
    }

    public static let keyFileKey = "audit.key_file"
    public static let checkpointFileKey = "audit.checkpoint_file"
    static let sealIntervalKey = "audit.seal_interval_seconds"
    static let retentionYearsKey = "audit.retention_years"

    /// `audit.key_file`, `audit.checkpoint_file`, `audit.seal_interval_seconds` (default 1, at most 3600),
    /// `audit.retention_years` (default 10, 1 to 100).
    static func read(_ values: SettingValues) throws -> AuditSettings {
        var settings = AuditSettings(keyFile: values.text(keyFileKey), checkpointFile: values.text(checkpointFileKey))
        settings.sealInterval = try values.seconds(sealIntervalKey, in: 1...3600) ?? settings.sealInterval
        settings.retentionYears = try retentionYears(values)
        // A key that cannot be read stops the start, not the first checkpoint.
        _ = try settings.signer()
        if let checkpointFile = settings.checkpointFile, settings.keyFile == nil {
            // Only signed checkpoints are copied out: without a key the file would stay empty while
            // `/ready` said the copies are written.
            throw ConfigurationError(
                code: .invalidValue, key: checkpointFileKey,
                description: "audit.checkpoint_file („\(checkpointFile)“) braucht audit.key_file: nur signierte "
                    + "Prüfpunkte werden nach außen kopiert.")
        }
        return settings
    }

    /// `audit.retention_years` alone (default 10, 1 to 100): what `audit verify` holds erasures to,
    /// without the signing key it does not need.
    static func retentionYears(_ values: SettingValues) throws -> Int {
        try values.parsed(
            retentionYearsKey, expected: "ganze Jahre von 1 bis 100",
            parse: { Int(digits: $0, in: retentionYearsRange) }) ?? defaultRetentionYears
    }

    /// The signer from `keyFile`.
    public func signer() throws -> NoteSigner? {
        guard let keyFile else { return nil }
        let contents: String
        do {
            contents = try String(contentsOfFile: keyFile, encoding: .utf8)
        } catch {
            throw ConfigurationError(
                code: .invalidValue, key: Self.keyFileKey,
                description: "Die Schlüsseldatei „\(keyFile)“ (audit.key_file) ist nicht lesbar.",
                details: "\(error)")
        }
        do {
            return try NoteSigner(privateKeyFile: contents.trimmingCharacters(in: .whitespacesAndNewlines))
        } catch {
            throw ConfigurationError(
                code: .invalidValue, key: Self.keyFileKey,
                description: "„\(keyFile)“ (audit.key_file) ist kein Schlüssel von „freigabe audit keygen“.",
                details: "\(error)")
        }
    }
}
