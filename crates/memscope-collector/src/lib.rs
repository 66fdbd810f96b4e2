//! The collector: drains the capture areas that memscope's recorders write into, and
//! turns them into traces.
//!
//! A recorder (`memscope-agent`) does as little as it can in its host: it publishes raw
//! events (allocations and frees with an address, a stack id and a sequence number of
//! the address's stripe) and a log of stack and module definitions. Everything else is
//! here, outside the host's process and memory:
//!
//! - [`Image`] drains one area: it reads every thread's chain of chunks, applies each
//!   event when it is the next of its address stripe (so a free meets the allocation
//!   it ends, whichever threads made them), keeps the live blocks, marks temporary
//!   frees, and writes the trace: segments with checkpoints, stacks and modules ahead
//!   of the events that use them, RSS samples, and an end record whose totals are
//!   counted from the events written, so that they equal a replay of the file.
//! - [`Session`] follows every process that records under one `memscope run`: it finds
//!   their areas in the session directory, ends an image when its process execs or
//!   dies, samples their resident memory from `/proc`, and names the traces.
//!
//! ```no_run
//! use memscope_collector::Session;
//!
//! let mut session = Session::create(std::path::Path::new("/tmp"))?;
//! // ... start the program with MEMSCOPE_SESSION set to session.dir(), then:
//! session.set_root(4242, "app.trace".into());
//! while !session.is_done() {
//!     session.step(None);
//! #   break;
//! }
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! This crate has no Cargo features.

#![deny(missing_docs)]

mod destination;
mod dir_watch;
mod heap_curve;
mod image;
mod live;
mod live_blocks;
mod mapping;
mod pairing;
mod prefetch;
mod process;
mod session;
mod stream;
mod trace_out;
mod trace_thread;

pub use crate::destination::{Destination, Series};
pub use crate::image::{DrainStats, Ending, Finished, Image};
pub use crate::live::{
    CurrentLive, LiveHandle, LiveSnapshot, LocalHigh, SharedStacks, HIGHS_WINDOW_NS,
};
pub use crate::mapping::Mapping;
pub use crate::session::{create_private, RootExit, Session, TraceResult};
