import Synchronization

/// How many of one kind of work may be under way at once (hung ones included): the resolver's lookups,
/// the auditors' downloads. A taker that finds every slot taken gets none (``take()``, ``lease()``), or
/// waits in line (first come, first served) and is handed the slot the next ``release()`` frees, or
/// gives up at its deadline or when its task is cancelled; a waiter that gave up holds no slot.
final class Slots: Sendable {
    let capacity: Int

    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        var taken = 0
        var waiters: [Waiter] = []
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    init(capacity: Int) { self.capacity = capacity }

    /// Takes a slot; false when all are taken (or others wait for one: they come first).
    func take() -> Bool {
        state.withLock { state in
            guard state.taken < capacity, state.waiters.isEmpty else { return false }
            state.taken += 1
            return true
        }
    }

    /// Takes a slot as soon as one is free, or gives up (false) at `deadline` or when the task is
    /// cancelled.
    func take(before deadline: ContinuousClock.Instant) async -> Bool {
        if take() { return true }
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        // The deadline: gives the waiter up unless a slot came first (then giving up finds nothing).
        let timer = Task {
            guard (try? await Task.sleep(until: deadline, clock: .continuous)) != nil else { return }
            self.giveUp(id)
        }
        defer { timer.cancel() }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let answer = state.withLock { state -> Bool? in
                    // A slot freed since the first try, or already past the deadline or cancelled:
                    // answered at once. Otherwise in line, answered by release() or giveUp(_:).
                    if state.taken < capacity, state.waiters.isEmpty {
                        state.taken += 1
                        return true
                    }
                    if Task.isCancelled || ContinuousClock.now >= deadline { return false }
                    state.waiters.append(Waiter(id: id, continuation: continuation))
                    return nil
                }
                if let answer { continuation.resume(returning: answer) }
            }
        } onCancel: {
            self.giveUp(id)
        }
    }

    /// Takes the waiter `id` out of the line and tells it no; nothing when it was already answered.
    private func giveUp(_ id: UInt64) {
        let waiter = state.withLock { state -> Waiter? in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiters.remove(at: index)
        }
        waiter?.continuation.resume(returning: false)
    }

    /// Frees a slot: handed to the first waiter if there is one.
    func release() {
        let waiter = state.withLock { state -> Waiter? in
            if !state.waiters.isEmpty { return state.waiters.removeFirst() }
            state.taken -= 1
            return nil
        }
        waiter?.continuation.resume(returning: true)
    }

    var inUse: Int { state.withLock { $0.taken } }

    /// Takers waiting for a slot.
    var waiting: Int { state.withLock { $0.waiters.count } }

    /// A slot held by an object: given back when the object goes, however the work that held it ends
    /// (a download written, failed, or its response never sent): nothing has to remember to.
    final class Lease: Sendable {
        private let slots: Slots

        fileprivate init(_ slots: Slots) {
            self.slots = slots
        }

        deinit { slots.release() }
    }

    /// ``take()`` as a ``Lease``; nil when every slot is taken.
    func lease() -> Lease? {
        take() ? Lease(self) : nil
    }
}
