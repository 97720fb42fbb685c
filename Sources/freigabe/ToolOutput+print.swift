import ArgumentParser
import Foundation
import FreigabeServer

extension ToolOutput {
    /// Prints both streams and turns failure into exit code 1.
    func emit() throws {
        for line in standardOutput { print(line, terminator: line.hasSuffix("\n") ? "" : "\n") }
        for line in standardError { FileHandle.standardError.write(Data((line + "\n").utf8)) }
        if !succeeded { throw ExitCode.failure }
    }
}
