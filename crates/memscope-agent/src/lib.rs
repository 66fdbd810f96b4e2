//! The memscope recorder, which runs inside the profiled process.
//!
//! The preload library (and the `memscope` Rust library) interpose the malloc family and
//! call [`record_alloc`], [`record_free`] and [`record_realloc`] around the real
//! functions. Each call captures its stack ([framehop] DWARF unwinding with per-thread
//! rule caches, and a per-thread memo that skips the unwind when the stack is provably
//! unchanged), interns it, and publishes one 24-byte event into the thread's chain of
//! chunks in the capture [`area`]. That is all that happens in the host: a collector
//! (`memscope-collector`, in `memscope run`'s process) drains the area, pairs frees with
//! allocations in the order the stripe sequence numbers give, and writes the trace.
//!
//! The agent is a guest. It starts no thread, keeps no descriptor open (the area is a
//! mapping, which no `close` or `dup2` can reach), installs no signal handler, has no
//! thread-local storage (so glibc's per-thread TLS allocations keep their size), never
//! allocates through the allocator it tracks ([`LibcAllocator`]), and when glibc refuses
//! it memory falls back to a fixed reserve instead of aborting. A signal handler that
//! allocates while the thread is inside a hook is recorded too, without a stack. A
//! process's death at any moment loses nothing it had published.
//!
//! The crate is `no_std` (with `alloc`): the standard library would bring thread-locals
//! and its own allocation failure handler into the host.
//!
//! Only x86_64 Linux with glibc is supported.
//!
//! This crate has no Cargo features.

#![no_std]
#![deny(missing_docs)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod area;
mod config;
pub mod control;
mod heap;
mod modules;
mod recorder;
mod sampling;
mod spin;
mod stacks;
mod sys;
pub mod tags;
mod thread;
mod unwind;

pub use crate::config::UnwindMode;
pub use crate::heap::{
    __libc_calloc, __libc_free, __libc_malloc, __libc_memalign, __libc_pvalloc, __libc_realloc,
    __libc_valloc, LibcAllocator,
};
pub use crate::recorder::{
    after_failed_exec, alloc_wanted, before_exec, before_immediate_exit, before_thread_start,
    free_wanted, ignore_current_thread, modules_changed, on_load, on_unload, record_alloc,
    record_free, record_realloc, set_thread_tag, start_embedded, tag_id, Settings,
};
