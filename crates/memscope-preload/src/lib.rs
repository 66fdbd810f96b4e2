//! The `LD_PRELOAD` library. It exports the malloc family, forwards each call to
//! glibc's real function and reports it to `memscope-agent`; it also hooks the ways a
//! process can end or replace itself (`_exit`, `exec*`) and change its code
//! (`dlopen`, `dlclose`), so the trace stays complete and symbolizable, and the start
//! of threads (`pthread_create`), from which on the recorder's sequence numbers take
//! locked instructions.
//!
//! `malloc_usable_size` is not interposed: blocks are glibc's own, so glibc's answer
//! is already right.
//!
//! The library is `no_std`: the standard library would give it a TLS segment (and so
//! one more entry in every thread's TLS vector, which glibc allocates with malloc) and
//! thread-local destructors.

// Checked as a test target by clippy, where the test harness brings std.
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]
#![allow(clippy::missing_safety_doc)]

mod exec;
mod heap;
mod real;
mod threads;

use memscope_agent::LibcAllocator;

#[global_allocator]
static AGENT_HEAP: LibcAllocator = LibcAllocator;

extern "C" fn load() {
    memscope_agent::on_load();
}

extern "C" fn unload() {
    memscope_agent::on_unload();
}

#[used]
#[link_section = ".init_array"]
static INIT: extern "C" fn() = load;

#[used]
#[link_section = ".fini_array"]
static FINI: extern "C" fn() = unload;

/// The recorder never panics on purpose; if it did, unwinding into the host's C frames
/// would be worse than stopping.
#[cfg(not(test))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // SAFETY: abort has no preconditions.
    unsafe { libc::abort() }
}
