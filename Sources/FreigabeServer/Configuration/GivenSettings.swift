import Configuration
import Foundation
import Synchronization
import Yams

/// The keys one reading of the settings asked for, so that a setting nobody reads (a typo such as
/// `db.pasword`, or `ldap.base_dn` while `ldap.url` is not set) can be named at start instead of being
/// silently ignored.
final class AskedKeys: Sendable {
    private let keys = Mutex<Set<String>>([])

    func insert(_ key: String) {
        keys.withLock { _ = $0.insert(key) }
    }

    /// Every key asked, as written in the code and looked up in the file (`db.tls_ca_file`).
    var all: Set<String> { keys.withLock { $0 } }
}

/// A setting one of the sources gives, as written there and where, to compare with the keys the
/// server reads: on the command line and in the environment as the environment spells them
/// (`DB_TLS_CA_FILE`, which both map to), in the file exactly (the file is looked up by the dotted
/// path: `db_host` or `http-port` there is read by nothing).
public struct GivenSetting: Sendable, Hashable, CustomStringConvertible {
    public enum Source: Sendable, Hashable {
        case commandLine
        case environment
        case file(String)
    }

    public var written: String
    public var source: Source

    /// Whether one of `keys` (as the code asks for them) reads this setting.
    func isRead(by keys: Set<String>) -> Bool {
        switch source {
        case .file:
            return keys.contains(written)
        case .environment:
            let name = written.dropFirst(ConfigurationSources.environmentVariablePrefix.count)
            return keys.contains { SettingValues.environmentKey($0) == name }
        case .commandLine:
            let name = SettingValues.environmentKey(written.dropFirst(2))
            return keys.contains { SettingValues.environmentKey($0) == name }
        }
    }

    public var description: String {
        switch source {
        case .commandLine: "\(written) (Kommandozeile)"
        case .environment: "\(written) (Umgebung)"
        case .file(let path): "\(written) (Datei \(path))"
        }
    }
}

extension ConfigurationSources {
    static let environmentVariablePrefix = "FREIGABE_"

    /// The settings the command line, the environment (`FREIGABE_*`) and the configuration file give,
    /// each as written; the keys of the file are its mappings' paths (`db: {tls_ca_file: …}` is
    /// `db.tls_ca_file`). `reader` names the file (`config.file` from any source).
    public static func givenSettings(
        arguments: [String], environment: [String: String], reader: ConfigReader
    ) throws -> [GivenSetting] {
        var given: [GivenSetting] = []
        for argument in arguments where argument.hasPrefix("--") {
            let option = argument.split(separator: "=", maxSplits: 1)[0]
            given.append(GivenSetting(written: String(option), source: .commandLine))
        }
        for name in environment.keys.sorted() where name.hasPrefix(environmentVariablePrefix) {
            given.append(GivenSetting(written: name, source: .environment))
        }
        if let path = SettingValues(reader: reader).text(AppConfiguration.Key.configFile),
            let data = FileManager.default.contents(atPath: path),
            let text = String(data: data, encoding: .utf8),
            let root = try? Yams.compose(yaml: text)
        {
            given += fileKeys(root, path: []).map { GivenSetting(written: $0, source: .file(path)) }
        }
        return given
    }

    /// The given settings no reading asked for. The keys the sources themselves consume (the file's
    /// name) always count as read.
    static func unread(_ given: [GivenSetting], asked: AskedKeys) -> [GivenSetting] {
        let keys = asked.all.union([AppConfiguration.Key.configFile])
        return given.filter { !$0.isRead(by: keys) }
    }

    private static func fileKeys(_ node: Node, path: [String]) -> [String] {
        guard case .mapping(let mapping) = node else {
            return path.isEmpty ? [] : [path.joined(separator: ".")]
        }
        return mapping.flatMap { key, value in fileKeys(value, path: path + [key.string ?? "\(key)"]) }
    }
}
