//! Analysis of memscope traces.
//!
//! The recorder stores allocation call stacks as raw runtime addresses, so that recording
//! stays cheap; this crate makes sense of them afterwards.
//!
//! # Overview
//!
//! - [`TraceFile`] maps a trace; [`Recording::open`] reads everything but the events
//!   (checkpoints, stack and module tables, RSS samples), noting any [`Damage`].
//! - Queries decode events, each segment on its own thread, in bounded memory:
//!   [`Snapshot::take`] gives per-stack [`StackCounts`] at a [`Moment`] from the nearest
//!   checkpoint, [`Snapshot::series`] many moments from one replay; [`Timeline::build`] and [`Peak::find`] replay events in time order;
//!   [`Summary::compute`] gives the headline numbers, [`ThreadFigures::compute`] each
//!   thread's.
//! - [`StackSymbols`] symbolizes the stacks a report shows (each address once) and trims
//!   the allocator's own frames ([`is_allocator_frame`], and wrappers named by
//!   [`AllocFns`]) and shortens C++ and Rust names ([`short_name`]); [`Filter`] picks
//!   stacks by function, source file or module, owner tag and thread.
//! - Reports are data: [`Top`] (pprof's flat and cum) and [`Diff`], grouped by
//!   [`Granularity`]; for exports, [`StackProfile`] (every stack with all four sample
//!   types, its frames grouped into [`Location`]s), [`CallGraph`] (functions and the
//!   calls between them) and [`CallTree`] (stacks merged by path, built once and
//!   evaluated at many snapshots); [`Temporaries`] (heaptrack's temporary allocations
//!   by stack) and [`SizeHistogram`] (allocations by size).
//! - [`Symbolizer`] turns runtime addresses into [`Frame`]s (function, file, line; inlined
//!   functions as frames of their own), given the [`ModuleRef`]s the recorder saw. It reads
//!   DWARF from the module or from separate debug files and falls back to the ELF symbol
//!   table; [`SymbolWarning`]s say where that fell short.
//!
//! # Example
//!
//! ```
//! use memscope_analyze::{ModuleRef, Symbolizer};
//!
//! let text_segment = 0x7f00_0000_1000..0x7f00_0000_2000;
//! let libfoo = ModuleRef {
//!     path: "/nonexistent/libfoo.so".into(),
//!     build_id: None,
//!     load_bias: 0x7f00_0000_0000,
//!     ranges: vec![text_segment],
//! };
//! let symbolizer = Symbolizer::new(vec![libfoo]);
//! let frames = symbolizer.resolve(&[0x7f00_0000_1234, 0x42]);
//!
//! // The file is gone: the frame names the module and offset, and a warning says why.
//! assert_eq!(frames[&0x7f00_0000_1234][0].function, "libfoo.so+0x1234");
//! assert_eq!(frames[&0x42][0].function, "??+0x42");
//! assert_eq!(symbolizer.warnings().len(), 1);
//! ```
//!
//! # Cargo features
//!
//! None.

#![deny(missing_docs)]

mod block_heads;
mod counts;
mod damage;
mod error;
mod event_merge;
mod event_pass;
mod filter;
mod group;
mod peak;
mod problems;
mod query;
mod recording;
mod sampling;
mod short_name;
mod snapshot;
mod snapshot_series;
mod stack_symbols;
mod summary;
mod symbols;
mod thread_figures;
mod time;
mod timeline;
mod trace_file;
mod trace_files;
mod trace_parts;
mod trim;

pub use crate::counts::StackCounts;
pub use crate::damage::Damage;
pub use crate::error::AnalyzeError;
pub use crate::filter::{EventFilter, Filter};
pub use crate::group::{Granularity, Place};
pub use crate::peak::Peak;
pub use crate::query::call_graph::{CallEdge, CallGraph, CallNode};
pub use crate::query::call_tree::{
    CallTree, FunctionId, FunctionValues, TreeNode, TreeNodeId, TreeValues,
};
pub use crate::query::diff::{Diff, DiffRow};
pub use crate::query::profile::{ProfileStack, StackProfile};
pub use crate::query::sizes::{SizeBucket, SizeCount, SizeHistogram};
pub use crate::query::temporaries::{Temporaries, TemporaryRow};
pub use crate::query::top::{SampleType, Top, TopRow};
pub use crate::recording::Recording;
pub use crate::sampling::Sampling;
pub use crate::short_name::short_name;
pub use crate::snapshot::{Moment, Snapshot};
pub use crate::stack_symbols::{tag_of, Location, StackSymbols};
pub use crate::summary::Summary;
pub use crate::thread_figures::{thread_names, ThreadFigures};
pub use crate::time::ns_to_ms;
pub use crate::timeline::{Timeline, TimelineRow};
pub use crate::trace_file::TraceFile;
pub use crate::trace_files::TraceFiles;
pub use crate::trim::{is_allocator_frame, AllocFns};
pub use symbols::{Frame, ModuleRef, SymbolWarning, Symbolizer};
