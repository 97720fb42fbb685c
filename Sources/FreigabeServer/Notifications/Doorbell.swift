import Synchronization

/// Wakes one waiting loop: `ring()` from anywhere (a NOTIFY arrived), `wait(atMost:)` in the loop. A
/// ring while nobody waits is kept (once), so a notification between two rounds is not lost.
final class Doorbell: Sendable {
    private struct State {
        var rung = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    func ring() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.rung = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns when rung, after `timeout`, or when the task is cancelled; only one task may wait.
    func wait(atMost timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                // Only a sleep that ran out rings; a cancelled one (the bell rang first) must not.
                guard (try? await Task.sleep(for: timeout)) != nil else { return }
                self.ring()
            }
            await withTaskCancellationHandler {
                await withCheckedContinuation { continuation in
                    let ringing = state.withLock { state -> Bool in
                        if state.rung {
                            state.rung = false
                            return true
                        }
                        state.waiter = continuation
                        return false
                    }
                    if ringing { continuation.resume() }
                }
            } onCancel: {
                self.ring()
            }
            group.cancelAll()
        }
    }
}
