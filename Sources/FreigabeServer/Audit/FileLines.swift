import Foundation

/// A file's lines, each with its newline, read 1 MiB at a time: the offline verifier checks exports far
/// larger than memory. A read error ends the lines and is kept in ``readError`` (a sequence cannot throw).
final class FileLines: Sequence, IteratorProtocol {
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var position = 0
    private var atEnd = false
    private(set) var readError: (any Error)?

    init(path: String) throws {
        handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
    }

    deinit { try? handle.close() }

    func next() -> [UInt8]? {
        while true {
            if let newline = buffer[position...].firstIndex(of: UInt8(ascii: "\n")) {
                defer { position = newline + 1 }
                return Array(buffer[position...newline])
            }
            if atEnd {
                guard position < buffer.count else { return nil }
                defer { position = buffer.count }
                return Array(buffer[position...])
            }
            buffer.removeSubrange(0..<position)
            position = 0
            do {
                if let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
                    buffer.append(contentsOf: chunk)
                } else {
                    atEnd = true
                }
            } catch {
                readError = error
                atEnd = true
                buffer.removeAll()
            }
        }
    }
}
