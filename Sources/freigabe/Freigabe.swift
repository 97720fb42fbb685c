import ArgumentParser

/// The `freigabe` command: serve the web application and look after workflows.
@main
struct Freigabe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "freigabe",
        abstract: "Freigabe: release municipal datasets as Shared Data or Open Data, traceably.",
        subcommands: [
            ServeCommand.self, MigrateCommand.self, CatalogCommand.self, WorkflowCommand.self, DirectoryCommand.self,
            TimersCommand.self, AuditCommand.self, OutboxCommand.self, MailCommand.self,
        ],
        defaultSubcommand: ServeCommand.self
    )
}
