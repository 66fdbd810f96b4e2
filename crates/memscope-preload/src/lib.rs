//! The `LD_PRELOAD` library. It exports the malloc family, forwards each call to
//! glibc's real function and reports it to `memscope-agent`; it also hooks the ways a
//! process can end or replace itself (`_exit`, `exec*`) and change its code
//! (`dlopen`, `dlclose`), so the trace stays complete and symbolizable, and the start
//! of threads (`pthread_create`), before which a single-threaded process stops letting
//! the writer pair its frees.
//!
//! `malloc_usable_size` is not interposed: blocks are glibc's own, so glibc's answer
//! is already right.

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
