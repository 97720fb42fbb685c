import Foundation
import NIOPosix
import Synchronization

/// The checkpoint file's reads and writes, off Swift's cooperative threads and under a deadline.
///
/// A file on a mount that stopped answering (a lost NFS server, a hung SAN) blocks the thread that
/// reads or writes it for as long as the mount hangs, and no call can be cancelled. So the calls run on
/// threads of their own; a caller waits at most ``deadline``; and while a call on a file has not
/// returned, the next one on it fails at once instead of queueing behind it. At most one thread per
/// file is ever stuck (a server has one file, `audit.checkpoint_file`): the sealing rounds, and
/// everything else the process serves, go on.
enum CheckpointFileIO {
    /// How long a caller waits for one read of the file's tail or one append.
    static let deadline: Duration = .seconds(3)

    private static let threads: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        return pool
    }()

    /// The files a call is on (returned or not): added by the caller, removed when the call ends.
    private static let busy = Mutex<Set<String>>([])

    /// Runs `body` on `path` (`call`, e.g. "read the tail of", names it for the operator) on the files' threads.
    ///
    /// - Throws: ``CheckpointFileUnusable`` when `body` took longer than `deadline` (it goes on, and ends
    ///   whenever the file answers) or an earlier call has not returned yet; otherwise what `body` throws.
    static func run<Value: Sendable>(
        _ call: String, path: String, deadline: Duration = deadline,
        _ body: @escaping @Sendable () throws -> Value
    ) async throws -> Value {
        guard busy.withLock({ $0.insert(path).inserted }) else {
            throw CheckpointFileUnusable(path: path, call: call, cause: .stillHanging)
        }
        let outcome = await withTimeout(deadline) {
            try await threads.runIfActive {
                defer { _ = busy.withLock { $0.remove(path) } }
                return try body()
            }
        }
        switch outcome {
        case .success(let value):
            return value
        case .failure(let error) where error is TimeoutError:
            throw CheckpointFileUnusable(path: path, call: call, cause: .noAnswer(within: deadline))
        case .failure(let error) where error is NIOThreadPoolError.ThreadPoolInactive:
            // Never ran (the threads are shut down): the claim is given back here.
            _ = busy.withLock { $0.remove(path) }
            throw error
        case .failure(let error):
            // Returned with an error: the call gave back its claim when it ended.
            throw error
        }
    }
}

/// The checkpoint file could not be used: it did not answer in time (a mount that hangs), an earlier
/// call on it still hangs, or reading it failed. The round that needed it fails, counted as
/// `checkpoint_file`, and `/ready` reports the outside copy as failing.
struct CheckpointFileUnusable: Error, Sendable, Hashable, CustomStringConvertible {
    enum Cause: Sendable, Hashable {
        case noAnswer(within: Duration)
        case stillHanging
        case failed(String)
    }

    var path: String
    var call: String
    var cause: Cause

    var description: String {
        switch cause {
        case .noAnswer(let deadline): "\(call) \(path): no answer within \(deadline) (a mount that hangs?)"
        case .stillHanging: "\(call) \(path): not tried, an earlier call on the file still hangs"
        case .failed(let reason): "\(call) \(path): \(reason)"
        }
    }
}
