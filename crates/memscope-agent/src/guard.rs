//! The reentrancy guard. Anything the agent calls may allocate (glibc's `fopen`, zstd,
//! `pthread_create`); those calls come back into the hooks, which must then pass
//! straight through instead of recording, or they would recurse forever.

use crate::thread_slot::{slot, ThreadSlot};

/// Held while the agent works on this thread. It keeps the thread's slot, which the
/// hooks use again (one lookup of the slot per hooked call).
pub(crate) struct Guard(&'static ThreadSlot);

impl Guard {
    /// Enters the agent, or `None` if this thread is already inside it.
    pub(crate) fn enter() -> Option<Guard> {
        let slot = slot();
        // `then`, not `then_some`: an eagerly built Guard would be dropped on the failing
        // path, and its Drop would clear the flag of the guard already held.
        (!slot.active.replace(true)).then(|| Guard(slot))
    }

    /// This thread's slot.
    pub(crate) fn slot(&self) -> &'static ThreadSlot {
        self.0
    }

    /// Marks this thread as permanently inside the agent: the writer thread records
    /// nothing of its own.
    pub(crate) fn enter_forever() {
        slot().active.set(true);
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.active.set(false);
    }
}
