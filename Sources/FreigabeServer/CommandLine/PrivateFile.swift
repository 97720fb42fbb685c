import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A new file only its owner can read, for a private key.
///
/// `open(O_CREAT | O_EXCL | O_NOFOLLOW, 0600)`: the file is born with its final mode (never readable by
/// others for a moment, whatever the umask), an existing file or a symbolic link at the path (even one
/// pointing nowhere, which `fileExists` calls absent) is never written through, and the check and the
/// creation are one step. Written, flushed to disk, and removed again when writing fails.
enum PrivateFile {
    enum Outcome: Equatable {
        case created
        case exists
        case failed(String)
    }

    static func create(_ path: String, contents: [UInt8]) -> Outcome {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            let code = errno
            return code == EEXIST || code == ELOOP ? .exists : .failed(String(cString: strerror(code)))
        }
        var written = 0
        var failure: Int32?
        contents.withUnsafeBytes { buffer in
            while written < buffer.count {
                let result = write(descriptor, buffer.baseAddress! + written, buffer.count - written)
                if result < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                written += result
            }
        }
        if failure == nil, fsync(descriptor) != 0 { failure = errno }
        if close(descriptor) != 0, failure == nil { failure = errno }
        if let failure {
            unlink(path)
            return .failed(String(cString: strerror(failure)))
        }
        return .created
    }
}
