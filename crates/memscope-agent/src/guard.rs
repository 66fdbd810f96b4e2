//! The reentrancy guard. Anything the agent calls may allocate (glibc's `fopen`, zstd,
//! `pthread_create`); those calls come back into the hooks, which must then pass
//! straight through instead of recording, or they would recurse forever.

use std::cell::Cell;

thread_local! {
    // `const` and without a destructor: reading it never allocates or registers
    // anything, so it is safe from the very first malloc of the process.
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
}

/// Held while the agent works on this thread.
pub(crate) struct Guard(());

impl Guard {
    /// Enters the agent, or `None` if this thread is already inside it.
    pub(crate) fn enter() -> Option<Guard> {
        // `then`, not `then_some`: an eagerly built Guard would be dropped on the failing
        // path, and its Drop would clear the flag of the guard already held.
        ACTIVE.with(|active| (!active.replace(true)).then(|| Guard(())))
    }

    /// Marks this thread as permanently inside the agent: the writer thread records
    /// nothing of its own.
    pub(crate) fn enter_forever() {
        ACTIVE.with(|active| active.set(true));
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        ACTIVE.with(|active| active.set(false));
    }
}
