//! Analysis of memscope traces.
//!
//! The recorder stores allocation call stacks as raw runtime addresses, so that recording
//! stays cheap; this crate makes sense of them afterwards.
//!
//! # Overview
//!
//! - [`TraceFile`] maps a trace; [`Profile::load`] decodes its segments in parallel and
//!   merges them into a [`Summary`], per-stack counts ([`StackCounts`]) and the stack
//!   and module tables, noting any [`Damage`].
//! - [`stack_frames`] symbolizes the stacks a report shows.
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

mod error;
mod profile;
mod segment_pass;
mod stack_frames;
mod symbols;
mod trace_file;

pub use crate::error::AnalyzeError;
pub use crate::profile::{Damage, Profile, StackUsage, Summary};
pub use crate::segment_pass::StackCounts;
pub use crate::stack_frames::stack_frames;
pub use crate::trace_file::TraceFile;
pub use symbols::{Frame, ModuleRef, SymbolWarning, Symbolizer};
