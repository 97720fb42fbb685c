import Testing

@testable import FreigabeServer

/// The command-line tools refuse options that do not fit together in the tools' language (German), each
/// naming what to do, before they touch anything.
@Suite("Command-line options")
struct ToolOptionTests {
    @Test("audit verify: the offline options that fit together pass; each misfit is named")
    func auditVerifyOfflineOptions() {
        #expect(AuditTool.offlineOptionsProblem(export: nil, checkpoint: nil, retentionYears: nil) == nil)
        #expect(AuditTool.offlineOptionsProblem(export: nil, checkpoint: "c", retentionYears: nil) == nil)
        #expect(AuditTool.offlineOptionsProblem(export: "e", checkpoint: "c", retentionYears: 10) == nil)
        #expect(AuditTool.offlineOptionsProblem(export: "e", checkpoint: "c", retentionYears: 1) == nil)
        #expect(AuditTool.offlineOptionsProblem(export: "e", checkpoint: "c", retentionYears: 100) == nil)
        let noCheckpoint = AuditTool.offlineOptionsProblem(export: "e", checkpoint: nil, retentionYears: nil)
        #expect(noCheckpoint?.hasPrefix("--export braucht --checkpoint") == true)
        let noExport = AuditTool.offlineOptionsProblem(export: nil, checkpoint: "c", retentionYears: 10)
        #expect(noExport?.hasPrefix("--retention-years gilt nur mit --export") == true)
        for years in [0, -1, 101, Int.max, Int.min] {
            let outside = AuditTool.offlineOptionsProblem(export: "e", checkpoint: "c", retentionYears: years)
            #expect(outside?.hasPrefix("--retention-years muss zwischen 1 und 100 liegen") == true, "\(years)")
        }
    }

    @Test("outbox retry: a mail row's number or w and a webhook delivery's number, nothing else")
    func outboxRowIDs() {
        #expect(OutboxTool.RowID("42") == .mail(42))
        #expect(OutboxTool.RowID("w7") == .webhook(7))
        let refused = [
            "", "w", "0", "w0", "-1", "w-1", "12abc", "W12", "ww3", " 12", "12 ", "1e3", "0x10",
            "99999999999999999999", "w99999999999999999999", "١٢", "12\n",
        ]
        for text in refused {
            #expect(OutboxTool.RowID(text) == nil, "\(text.debugDescription)")
        }
        #expect(OutboxTool.RowID.expected.contains("freigabe outbox list --failed"))
    }

    @Test("serve: a stray word is named on one line, with how settings are given")
    func serveStrayArgument() {
        let text = ConfigurationSources.unexpectedArgumentText("porrt\n\u{1B}[31mrot")
        #expect(text.hasPrefix("Unerwartetes Argument „porrt"))
        #expect(!text.contains("\n") && !text.contains("\u{1B}"))
        #expect(text.contains("--schlüssel wert"))
    }
}
