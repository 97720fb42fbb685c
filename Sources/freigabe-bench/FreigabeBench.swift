import ArgumentParser

/// Load tools that print figures (never pass/fail): `make bench`, `make bench-ldap`, `make bench-timers`
/// and `make bench-web` run them against the local services.
@main
struct FreigabeBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "freigabe-bench",
        abstract: "Measure Freigabe against the local services and print the figures.",
        subcommands: [
            LifecycleBenchmark.self, LDAPBenchmark.self, TimerBenchmarkCommand.self, AuditBenchmarkCommand.self,
            WebBenchmark.self, CompareBenchmark.self, MailDelayBenchmark.self,
        ]
    )
}
