//! memscope's live endpoint: Go's `net/http/pprof` layout, served from a recording that
//! is still running.
//!
//! - [`Server`] listens (loopback only unless asked, with a token then) and answers
//!   `/debug/pprof/` (an index), `/debug/pprof/heap` (gzip pprof with Go's four sample
//!   types, inuse_space first; `?debug=1` for Go's text form, `?seconds=N` for a delta),
//!   `/debug/pprof/allocs` (alloc_space first), `/debug/pprof/cmdline`,
//!   `/debug/memscope/stats` and `/debug/memscope/timeline` (JSON).
//! - A [`Source`] hands it snapshots of the recording (`memscope run --serve` serves the
//!   collector's; the Rust library its own). Each profile is made by laying the
//!   snapshot out as a small trace ([`snapshot_trace`]) and running the same analysis
//!   and pprof writer as `memscope export` on it, so live and recorded profiles agree.
//! - [`Routes`] adds paths (the Rust library's CPU profile).
//!
//! This crate has no Cargo features.

#![deny(missing_docs)]

mod error;
mod go_text;
mod profiles;
mod routes;
mod server;
mod snapshot_trace;

pub use crate::error::EndpointError;
pub use crate::go_text::write_go_heap_text;
pub use crate::profiles::{heap_profile, with_live_profile, Rendering};
pub use crate::routes::{answer, Answer, Source, MAX_SECONDS};
pub use crate::server::{Routes, ServeConfig, Server};
pub use crate::snapshot_trace::{snapshot_trace, SnapshotTrace};
