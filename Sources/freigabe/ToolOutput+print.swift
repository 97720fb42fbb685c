import ArgumentParser
import Foundation
import FreigabeServer

extension ToolOutput {
    /// Prints both streams (``terminalSafe(_:)``) and turns failure into exit code 1.
    func emit() throws {
        for line in standardOutput.map(Self.terminalSafe) { print(line, terminator: line.hasSuffix("\n") ? "" : "\n") }
        for line in standardError.map(Self.terminalSafe) { FileHandle.standardError.write(Data((line + "\n").utf8)) }
        if !succeeded { throw ExitCode.failure }
    }
}
