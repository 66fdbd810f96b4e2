//! The calling thread's slot: its recorder state and its reentrancy flag. It lives in
//! C (`thread_slot.c`) for the cheaper TLS model; reading it is a call that returns
//! an address relative to the thread pointer, where a Rust thread-local in a shared
//! library costs a `__tls_get_addr` call per access.

use std::cell::Cell;
use std::ffi::c_void;

/// Matches `struct memscope_thread_slot`; zero (null, false, false) in a new thread.
#[repr(C)]
pub(crate) struct ThreadSlot {
    /// The thread's `ThreadState`, once created.
    pub state: Cell<*mut c_void>,
    /// Set while the agent works on this thread.
    pub active: Cell<bool>,
    /// Set once the thread's state was torn down at its exit.
    pub exited: Cell<bool>,
}

extern "C" {
    fn memscope_thread_slot() -> *const ThreadSlot;
}

/// This thread's slot. Reading it never allocates, so it is safe from the very first
/// malloc of the process.
pub(crate) fn slot() -> &'static ThreadSlot {
    // SAFETY: the C side returns this thread's slot, which lives as long as the
    // thread; Cell keeps every access on this thread.
    unsafe { &*memscope_thread_slot() }
}
