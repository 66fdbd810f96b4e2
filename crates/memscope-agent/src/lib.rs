//! The memscope recorder, which runs inside the profiled process.
//!
//! The preload library interposes the malloc family and calls [`record_alloc`],
//! [`record_free`] and [`record_realloc`] around glibc's real functions. Each call
//! captures its stack ([framehop] DWARF unwinding with per-thread rule caches, and a
//! per-thread memo that skips the unwind when the stack is provably unchanged),
//! interns it, and appends a fixed-size event to the thread's own buffer. Each thread
//! keeps a table of the blocks it allocated, so a free is paired with its allocation
//! as it happens (a free in the trace carries its block's size and stack); a free of
//! another thread's block claims it from that thread's table. While the process has a
//! single thread, the writer does that thread's pairing on its own core, until
//! [`before_thread_start`]. A writer thread drains the buffers, compresses them into
//! trace blocks and cuts segments; see `memscope-format`. It also sums the run's
//! totals and follows the live heap's peak as it writes, for the trace's end record,
//! and advances the clock that events read.
//!
//! The agent is a guest: it allocates only through glibc's `__libc_*` functions
//! ([`LibcAllocator`]), never records its own calls (a thread-local reentrancy
//! guard), takes no lock shared by all threads per event (only frees of another
//! thread's blocks search the other threads' tables, under a read lock), and never lets a
//! forked child write into its parent's trace.
//!
//! Only x86_64 Linux with glibc is supported.
//!
//! This crate has no Cargo features.

#![deny(missing_docs)]

mod buffer;
mod clock;
mod config;
mod guard;
mod heap_curve;
mod libc_heap;
mod live_table;
mod modules;
mod pairing;
mod recorder;
mod signals;
mod stacks;
mod table_memory;
mod thread_slot;
mod unwind;
mod writer;

pub use crate::libc_heap::{
    __libc_calloc, __libc_free, __libc_malloc, __libc_memalign, __libc_pvalloc, __libc_realloc,
    __libc_valloc, LibcAllocator,
};
pub use crate::recorder::{
    before_exec, before_immediate_exit, before_thread_start, modules_changed, on_load, on_unload,
    record_alloc, record_free, record_realloc,
};
