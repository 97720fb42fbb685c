import AuditLog
import Foundation
import Testing
import WorkflowEngine

@testable import FreigabeServer

@Suite("Configuration")
struct ConfigurationTests {
    @Test func defaultsWhenNothingIsSet() async throws {
        let reader = try await ConfigurationSources.reader(environment: [:])
        let configuration = try AppConfiguration(reader: reader)
        #expect(configuration == AppConfiguration())
        #expect(configuration.host == "127.0.0.1")
        #expect(configuration.port == 8080)
        #expect(configuration.templatesDirectory == "Templates")
        #expect(configuration.workflowsDirectory == "Workflows")
        #expect(configuration.logLevel == .info)
        #expect(configuration.federalState == .hessen)
        #expect(configuration.closedDays == ClosedDay.christmasAndNewYearsEve)
        #expect(configuration.bindsToLoopback)
    }

    @Test("calendar.closed_days: a list of MM-DD (YAML list or ;), none, and hostile values refused at the key")
    func closedDays() async throws {
        func read(_ value: String) async throws -> AppConfiguration {
            try AppConfiguration(
                reader: try await ConfigurationSources.reader(environment: ["FREIGABE_CALENDAR_CLOSED_DAYS": value]))
        }
        #expect(
            try await read("12-24; 12-31; 08-15").closedDays.map(\.description).sorted() == ["08-15", "12-24", "12-31"])
        #expect(try await read("08-08,12-24").closedDays.count == 2)
        #expect(try await read("none").closedDays.isEmpty)
        for hostile in ["24.12.", "12-32", "12-24; x", ";", "12-24;;13-01", "alle"] {
            let error = await #expect(throws: ConfigurationError.self, "\(hostile)") { try await read(hostile) }
            #expect(error?.key == "calendar.closed_days", "\(hostile)")
        }
    }

    @Test func environmentVariablesWithPrefix() async throws {
        let reader = try await ConfigurationSources.reader(environment: [
            "FREIGABE_HTTP_HOST": "0.0.0.0",
            "FREIGABE_HTTP_PORT": " 9090 ",
            "FREIGABE_TEMPLATES_DIR": "/srv/freigabe/Templates",
            "FREIGABE_WORKFLOWS_DIR": "/srv/freigabe/Workflows",
            "FREIGABE_LOG_LEVEL": "DEBUG",
            "FREIGABE_STATE": "nw",
        ])
        let configuration = try AppConfiguration(reader: reader)
        #expect(
            configuration
                == AppConfiguration(
                    host: "0.0.0.0",
                    port: 9090,
                    templatesDirectory: "/srv/freigabe/Templates",
                    workflowsDirectory: "/srv/freigabe/Workflows",
                    logLevel: .debug,
                    federalState: .nordrheinWestfalen
                )
        )
        #expect(!configuration.bindsToLoopback)
    }

    @Test func unprefixedVariablesAreIgnored() async throws {
        let reader = try await ConfigurationSources.reader(environment: ["HTTP_PORT": "1234", "PORT": "1234"])
        #expect(try AppConfiguration(reader: reader).port == 8080)
    }

    @Test func emptyVariableMeansUnset() async throws {
        let reader = try await ConfigurationSources.reader(environment: ["FREIGABE_HTTP_PORT": ""])
        #expect(try AppConfiguration(reader: reader).port == 8080)
    }

    @Test(arguments: ["0", "65536", "70000", "-1", "abc", "80.5"])
    func invalidPortIsAClearError(value: String) async throws {
        let reader = try await ConfigurationSources.reader(environment: ["FREIGABE_HTTP_PORT": value])
        let error = #expect(throws: ConfigurationError.self) { try AppConfiguration(reader: reader) }
        #expect(error?.code == .invalidValue)
        #expect(error?.key == "http.port")
        #expect(
            error?.description
                == "Ungültiger Wert für „http.port“ (Umgebungsvariable FREIGABE_HTTP_PORT, Option --http-port): "
                + "„\(value)“. Erlaubt: ganze Zahl von 1 bis 65535."
        )
    }

    @Test func invalidLogLevelAndStateNameTheAllowedValues() async throws {
        let badLevel = try await ConfigurationSources.reader(environment: ["FREIGABE_LOG_LEVEL": "verbose"])
        let level = #expect(throws: ConfigurationError.self) { try AppConfiguration(reader: badLevel) }
        #expect(level?.key == "log.level")
        #expect(level?.description.contains("trace, debug, info, notice, warning, error, critical") == true)

        let badState = try await ConfigurationSources.reader(environment: ["FREIGABE_STATE": "XX"])
        let state = #expect(throws: ConfigurationError.self) { try AppConfiguration(reader: badState) }
        #expect(state?.key == "state")
        #expect(state?.description.contains("FREIGABE_STATE") == true)
        #expect(state?.description.contains("HE") == true)
    }

    @Test func sourcesWinInOrder() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("freigabe-\(UUID()).yaml")
        try """
        http:
          host: 10.0.0.1
          port: 7000
        state: BY
        log:
          level: notice
        """.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }

        let environment = [
            "FREIGABE_CONFIG_FILE": file.path, "FREIGABE_HTTP_PORT": "7100", "FREIGABE_LOG_LEVEL": "error",
        ]
        func configuration(overrides: [String: String] = [:], arguments: [String] = []) async throws -> AppConfiguration
        {
            try AppConfiguration(
                reader: await ConfigurationSources.reader(
                    overrides: overrides,
                    arguments: arguments,
                    environment: environment
                )
            )
        }

        let fromFile = try await configuration()
        #expect(fromFile.host == "10.0.0.1")  // file only
        #expect(fromFile.federalState == .bayern)  // file only
        #expect(fromFile.port == 7100)  // environment beats file
        #expect(fromFile.logLevel == .error)

        let fromArguments = try await configuration(arguments: ["--http-port", "7200", "--state", "SN"])
        #expect(fromArguments.port == 7200)
        #expect(fromArguments.federalState == .sachsen)

        let fromOptions = try await configuration(overrides: ["http.port": "7300"], arguments: ["--http-port", "7200"])
        #expect(fromOptions.port == 7300)
        #expect(fromOptions.logLevel == .error)
    }

    @Test("--key value: dots and underscores as dashes, --key=value, values with commas taken whole")
    func argumentsUseTheDashedSpelling() async throws {
        // A CA file is read when the settings are (`make services` made this one).
        let caFile = try #require(TestSupport.localServicesEnvironment()["FREIGABE_TEST_TLS_DIR"]) + "/ca.pem"
        let reader = try await ConfigurationSources.reader(
            arguments: [
                "--http-port", "7500", "--templates-dir=/srv/T", "--ldap-roles-dsb", "cn=dsb,ou=gruppen,dc=stadt",
                "--db.tls_ca_file", caFile,
            ],
            environment: ["FREIGABE_HTTP_PORT": "7100", "FREIGABE_LDAP_ROLES_DSB": "cn=other"])
        let configuration = try AppConfiguration(reader: reader)
        #expect(configuration.port == 7500)
        #expect(configuration.templatesDirectory == "/srv/T")
        let values = SettingValues(reader: reader)
        #expect(values.text("ldap.roles.dsb") == "cn=dsb,ou=gruppen,dc=stadt")
        #expect(values.text("db.tls_ca_file") == caFile)
        #expect(try ConfigurationSources.argumentSettings(["--db-migrate-on-start"]) == ["DB_MIGRATE_ON_START": "true"])
    }

    @Test("hostile arguments: stray words, empty or odd keys, a key twice are refused")
    func hostileArguments() throws {
        for arguments in [
            ["stray"], ["--"], ["--=x"], ["--http-port", "1", "--http-port", "2"], ["--http port", "1"],
            ["--pört", "1"], ["--a=1", "--A=2"], ["-p", "1"],
        ] {
            #expect(throws: ConfigurationError.self, "\(arguments)") {
                try ConfigurationSources.argumentSettings(arguments)
            }
        }
    }

    @Test("settings, the metrics token and the signing key print without their secrets (description, debug, dump)")
    func secretsDoNotPrint() async throws {
        let settings = DatabaseSettings(password: "db-s3cr3t", adminUser: "owner", adminPassword: "owner-s3cr3t")
        var configuration = try AppConfiguration(
            reader: try await ConfigurationSources.reader(environment: ["FREIGABE_METRICS_TOKEN": "metrics-s3cr3t"]))
        #expect(configuration.metricsToken?.text == "metrics-s3cr3t")
        configuration.database = settings
        let signer = try NoteSigner.generate(keyName: "freigabe.test/audit")
        // The key material: the longest part of `PRIVATE+KEY+<name>+<id>+<base64 seed>`.
        let key = String(
            signer.privateKeyFileContents.split(whereSeparator: { $0 == "+" || $0.isNewline }).max {
                $0.count < $1.count
            }
                ?? "")
        #expect(key.count > 10)
        for (value, secrets) in [
            (settings as Any, ["db-s3cr3t", "owner-s3cr3t"]), (configuration as Any, ["metrics-s3cr3t", "db-s3cr3t"]),
            (signer as Any, [key]),
        ] {
            var dumped = ""
            dump(value, to: &dumped)
            for printed in [String(describing: value), String(reflecting: value), dumped] {
                for secret in secrets { #expect(!printed.contains(secret), "\(printed.prefix(300))") }
            }
        }
    }

    @Test("a secret on the command line (which ps shows everyone) is refused, without repeating it")
    func secretsStayOffTheCommandLine() throws {
        for arguments in [
            ["--db-password", "s3cr3t-value"], ["--db.admin_password=s3cr3t-value"],
            ["--ldap-bind-password", "s3cr3t-value"],
            ["--smtp-password", "s3cr3t-value"], ["--metrics-token", "s3cr3t-value"],
            ["--webhooks-portal-secret", "s3cr3t-value"], ["--webhooks.portal.old_secret", "s3cr3t-value"],
        ] {
            let error = #expect(throws: ConfigurationError.self, "\(arguments)") {
                try ConfigurationSources.argumentSettings(arguments)
            }
            #expect(error?.description.contains("s3cr3t-value") == false)
            #expect(error?.description.contains("Kommandozeile") == true)
        }
        // A file holding the secret may be named there, and a switch whose name only ends like a secret's.
        #expect(
            try ConfigurationSources.argumentSettings(["--db-password-file", "/run/secrets/db"])
                == ["DB_PASSWORD_FILE": "/run/secrets/db"])
        #expect(
            try ConfigurationSources.argumentSettings(["--web-decision-link-password", "false"])
                == ["WEB_DECISION_LINK_PASSWORD": "false"])
    }

    @Test("a YAML list is the ;-separated value the environment gives, not silently no value")
    func yamlListIsTheListSetting() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("freigabe-\(UUID()).yaml")
        try """
        ldap:
          roles:
            dsb:
              - CN=GG-DSB,OU=Gruppen,DC=stadt,DC=example
              - CN=GG-DSB-Vertretung,OU=Gruppen,DC=stadt,DC=example
            isb: ["cn=isb,ou=groups,dc=stadt"]
        """.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let reader = try await ConfigurationSources.reader(environment: ["FREIGABE_CONFIG_FILE": file.path])
        let values = SettingValues(reader: reader)
        #expect(
            values.text("ldap.roles.dsb")
                == "CN=GG-DSB,OU=Gruppen,DC=stadt,DC=example;CN=GG-DSB-Vertretung,OU=Gruppen,DC=stadt,DC=example")
        #expect(values.text("ldap.roles.isb") == "cn=isb,ou=groups,dc=stadt")
        #expect(
            DirectorySettings.list(values.text("ldap.roles.dsb") ?? "") == [
                "CN=GG-DSB,OU=Gruppen,DC=stadt,DC=example", "CN=GG-DSB-Vertretung,OU=Gruppen,DC=stadt,DC=example",
            ])
    }

    @Test("a YAML syntax error names the line, not its text (a password may be on it)")
    func yamlErrorHidesTheLine() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("freigabe-\(UUID()).yaml")
        try "db:\n  password: @geheim1\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        do {
            _ = try await ConfigurationSources.reader(overrides: ["config.file": file.path], environment: [:])
            Issue.record("a broken YAML file was read")
        } catch let error as ConfigurationError {
            #expect(error.code == .unreadableConfigFile)
            #expect(!"\(error) \(error.details ?? "")".contains("geheim1"), "\(error.details ?? "")")
        }
    }

    @Test func configFileCanBeNamedOnTheCommandLine() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("freigabe-\(UUID()).yaml")
        try "http:\n  port: 7400\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let reader = try await ConfigurationSources.reader(overrides: ["config.file": file.path], environment: [:])
        #expect(try AppConfiguration(reader: reader).port == 7400)
    }

    /// A templated file renders "no value" as YAML's null; the file provider hands it over as the text
    /// `~` or `null`, which would have become a metrics token to send, a sender's name.
    @Test("a YAML null in the file is no value")
    func yamlNullIsNoValue() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("freigabe-\(UUID()).yaml")
        try "metrics:\n  token: ~\nhttp:\n  host: null\n  port: 7400\n".write(
            to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let reader = try await ConfigurationSources.reader(overrides: ["config.file": file.path], environment: [:])
        let configuration = try AppConfiguration(reader: reader)
        #expect(configuration.metricsToken == nil)
        #expect(configuration.host == AppConfiguration().host && configuration.port == 7400)
    }

    @Test("a setting nothing reads is named with its source; on the command line it stops the start")
    func unreadSettingsAreNamed() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("freigabe-\(UUID()).yaml")
        try """
        http:
          port: 7400
        db:
          host: 127.0.0.1
          pasword: geheim1
        ldap:
          base_dn: dc=stadt,dc=example
        smtp: { host: 127.0.0.1, security: plain }
        mail:
          from: freigabe@stadt.example
          from_nme: Freigabe
        log-level: debug
        Http: {port: 1}
        """.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let environment = [
            "FREIGABE_CONFIG_FILE": file.path, "FREIGABE_LOG_LEVEL": "debug", "FREIGABE_DB_PORT": "5433",
            "FREIGABE_PG_BIN": "/usr/lib/postgresql/15/bin", "HOME": "/root",
        ]
        let arguments = ["--http-host", "127.0.0.2", "--webhooks-timeout-seconds=5"]
        let reader = try await ConfigurationSources.reader(arguments: arguments, environment: environment)
        let given = try ConfigurationSources.givenSettings(
            arguments: arguments, environment: environment, reader: reader)
        let settings = try FreigabeService.StartSettings(reader: reader, given: given)
        #expect(settings.configuration.port == 7400 && settings.configuration.host == "127.0.0.2")
        // A typo, a section without its switch (no ldap.url), a variable of some script; never a value.
        #expect(
            settings.unread.map(\.description).sorted() == [
                "FREIGABE_PG_BIN (Umgebung)", "Http.port (Datei \(file.path))",
                "db.pasword (Datei \(file.path))", "ldap.base_dn (Datei \(file.path))",
                "log-level (Datei \(file.path))", "mail.from_nme (Datei \(file.path))",
            ])
        #expect(!settings.unread.map(\.description).joined().contains("geheim1"))

        for typo in [["--http-prot", "9000"], ["--db-pasword=x"], ["--ldap-base-dn", "dc=x"]] {
            let reader = try await ConfigurationSources.reader(arguments: typo, environment: [:])
            let given = try ConfigurationSources.givenSettings(arguments: typo, environment: [:], reader: reader)
            let error = #expect(throws: ConfigurationError.self, "\(typo)") {
                try FreigabeService.StartSettings(reader: reader, given: given)
            }
            #expect(error?.key == typo[0].split(separator: "=")[0].description)
            #expect(error?.description.contains("ist keine Einstellung, die gelesen wird") == true)
        }
    }

    @Test func missingConfigFileIsAClearError() async throws {
        let error = await #expect(throws: ConfigurationError.self) {
            try await ConfigurationSources.reader(environment: ["FREIGABE_CONFIG_FILE": "/nonexistent/freigabe.yaml"])
        }
        #expect(error?.code == .unreadableConfigFile)
        #expect(error?.description.contains("/nonexistent/freigabe.yaml") == true)
    }

    /// Each `LISTEN` holds a pooled connection for as long as the server runs: a pool of one (two
    /// with both listeners) left every call waiting for a connection, answering 503, and `/ready`
    /// reporting the database unreachable, until someone read the settings.
    /// An operator's `DATABASE_URL` habit, `host:port`, a password in two places, deadlines that undo each
    /// other: each stops the start naming its key (as the file and the command line call it) and never
    /// echoes a password.
    @Test(
        "db.* mistakes stop the start at their key",
        arguments: [
            (["FREIGABE_DB_HOST": "postgres://freigabe_app:geheim@db.stadt.example:5432/freigabe"], "db.host"),
            (["FREIGABE_DB_HOST": "db.stadt.example:5433"], "db.host"),
            (["FREIGABE_DB_HOST": "db.stadt.example/freigabe"], "db.host"),
            (["FREIGABE_DB_HOST": "10.0.0.5:5432"], "db.host"), (["FREIGABE_DB_HOST": "db:5432"], "db.host"),
            (["FREIGABE_DB_HOST": "[::1]:5432"], "db.host"),
            (
                ["FREIGABE_DB_PASSWORD": "geheim", "FREIGABE_DB_PASSWORD_FILE": "/etc/freigabe/db-password"],
                "db.password_file"
            ),
            (["FREIGABE_DB_STATEMENT_TIMEOUT_SECONDS": "5"], "db.statement_timeout_seconds"),
            (["FREIGABE_DB_TRANSACTION_TIMEOUT_SECONDS": "2"], "db.statement_timeout_seconds"),
            (["FREIGABE_DB_LOCK_TIMEOUT_SECONDS": "4.5"], "db.lock_timeout_seconds"),
            (["FREIGABE_DB_MAX_CONNECTIONS": "0"], "db.max_connections"),
        ])
    func databaseMistakesNameTheirKey(environment: [String: String], key: String) async throws {
        let error = await #expect(throws: ConfigurationError.self) {
            try FreigabeService.StartSettings(
                reader: try await ConfigurationSources.reader(environment: environment), given: [])
        }
        #expect(error?.key == key, "\(String(describing: error))")
        #expect(error?.description.contains("„\(key)“") == true, "\(String(describing: error))")
        #expect(error?.description.contains("geheim") == false, "\(String(describing: error))")
    }

    @Test("db.host: names and addresses are taken as written")
    func databaseHosts() async throws {
        for (host, stored) in [
            ("db.stadt.example", "db.stadt.example"), ("10.0.0.5", "10.0.0.5"), ("::1", "::1"),
            ("[2001:db8::5]", "2001:db8::5"), ("pg-01_intern", "pg-01_intern"),
        ] {
            let configuration = try AppConfiguration(
                reader: try await ConfigurationSources.reader(environment: ["FREIGABE_DB_HOST": host]))
            #expect(configuration.database?.host == stored, "\(host)")
        }
    }

    @Test("db.max_connections must leave two connections besides those LISTEN holds; too few stop the start")
    func databasePoolLeavesRoomBesidesTheListeners() async throws {
        func configuration(_ environment: [String: String]) async throws -> AppConfiguration {
            try AppConfiguration(reader: try await ConfigurationSources.reader(environment: environment))
        }
        let database = ["FREIGABE_DB_HOST": "127.0.0.1"]
        let webhooks = [
            "FREIGABE_WEBHOOKS_SUBSCRIPTIONS": "portal", "FREIGABE_WEBHOOKS_PORTAL_URL": "https://93.184.216.34/hooks",
            "FREIGABE_WEBHOOKS_PORTAL_SECRET": WebhookTestSupport.text(of: WebhookTestSupport.secret),
        ]
        let mail = [
            "FREIGABE_SMTP_HOST": "127.0.0.1", "FREIGABE_MAIL_FROM": "freigabe@stadt.example",
            "FREIGABE_MAIL_HOST_NAME": "freigabe.stadt.example", "FREIGABE_LDAP_URL": "ldap://127.0.0.1:389",
            "FREIGABE_LDAP_BASE_DN": "dc=stadt,dc=example",
        ]
        let cases: [(environment: [String: String], listeners: Int, listening: String)] = [
            (database, 0, ""),
            (database.merging(webhooks) { $1 }, 1, "eine hält dauerhaft LISTEN für die Webhooks, "),
            (database.merging(mail) { $1 }, 1, "eine hält dauerhaft LISTEN für den Mailversand, "),
            (
                database.merging(mail) { $1 }.merging(webhooks) { $1 }, 2,
                "je eine hält dauerhaft LISTEN für den Mailversand und die Webhooks, "
            ),
        ]
        for (environment, listeners, listening) in cases {
            let enough = listeners + 2
            var sized = environment
            sized["FREIGABE_DB_MAX_CONNECTIONS"] = String(enough)
            let accepted = try await configuration(sized)
            #expect(accepted.databaseListeners == listeners && accepted.database?.maxConnections == enough)
            sized["FREIGABE_DB_MAX_CONNECTIONS"] = String(enough - 1)
            let error = await #expect(throws: ConfigurationError.self) { try await configuration(sized) }
            #expect(error?.code == .invalidValue && error?.key == "db.max_connections")
            let expected =
                "„db.max_connections“ (Umgebungsvariable FREIGABE_DB_MAX_CONNECTIONS) ist \(enough - 1), nötig sind "
                + "mindestens \(enough) Verbindungen: \(listening)dazu zwei für Seiten, API und Hintergrundarbeit."
            #expect(error?.description == expected)
        }
    }

    @Test("a wrong ldap.* value is refused at its own setting, not at ldap.url")
    func directoryValuesAtTheirKeys() async throws {
        let directory = [
            "FREIGABE_LDAP_URL": "ldaps://dc.stadt.example", "FREIGABE_LDAP_BASE_DN": "dc=stadt,dc=example",
        ]
        for (variable, value, key) in [
            ("FREIGABE_LDAP_CA_FILE", "/nonexistent/stadt-ca.pem", "ldap.ca_file"),
            ("FREIGABE_LDAP_ROLES_DSB", "cn=dsb,ou=groups,dc=stadt,dc=example;GG-DSB", "ldap.roles.dsb"),
            ("FREIGABE_LDAP_STEWARDS", "umwelt=Stewards Umwelt", "ldap.stewards"),
            ("FREIGABE_LDAP_BASE_DN", "stadt.example", "ldap.base_dn"),
            ("FREIGABE_LDAP_GROUP_SEARCH_BASE", "Gruppen", "ldap.group_search_base"),
        ] {
            var environment = directory
            environment[variable] = value
            let error = await #expect(throws: ConfigurationError.self, "\(variable)") {
                try AppConfiguration(reader: try await ConfigurationSources.reader(environment: environment))
            }
            #expect(error?.key == key, "\(variable): \(error.map(String.init(describing:)) ?? "")")
            #expect(error?.description.contains("Umgebungsvariable \(variable)") == true, "\(error?.description ?? "")")
        }
        // Plain ldap:// to another host names the setting that allows it, not a Swift property.
        var plain = directory
        plain["FREIGABE_LDAP_URL"] = "ldap://dc.stadt.example"
        let error = await #expect(throws: ConfigurationError.self) {
            try AppConfiguration(reader: try await ConfigurationSources.reader(environment: plain))
        }
        #expect(error?.description.contains("ldap.allow_insecure_non_loopback") == true)
    }

    @Test func buildApplicationRejectsInvalidSettings() async throws {
        let reader = try await ConfigurationSources.reader(environment: ["FREIGABE_HTTP_PORT": "99999"])
        await #expect(throws: ConfigurationError.self) { try await buildApplication(reader: reader) }
    }
}
