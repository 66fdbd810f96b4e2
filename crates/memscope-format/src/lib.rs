//! The memscope trace format.
//!
//! A trace is a file header followed by blocks ([`block`](crate::BlockKind) kinds:
//! meta, segment start, modules, stacks, events, RSS samples, end). Every block is
//! zstd-compressed and CRC-checked on its own, and blocks are grouped into
//! *segments*: each segment opens with a [`SegmentStart`] checkpoint followed by the
//! full module map and stack table, so it decodes without reading anything before it.
//! That is what lets readers decode segments in parallel and jump to any moment.
//! The [`End`] block of a complete trace also carries the recorder's own totals
//! ([`RunTotals`], format version 3 on), so the headline numbers need no replay.
//!
//! [`TraceWriter`] writes traces; [`Trace`] reads them. Every byte a reader acts on is
//! under a checksum (block headers included, from format version 4), and blocks carry
//! sequence numbers, so damage is found where it is: [`Trace::damage`] lists each
//! stretch of bytes skipped and each block missing, repeated or moved, and reading
//! resumes at the next block whose header verifies. Decoding holds every count, size
//! and time to a limit ([`MAX_BLOCK_EVENTS`], [`MAX_STACK_FRAMES`], [`MAX_EVENT_SIZE`],
//! [`MAX_TIME_NS`]), so no value a file claims decides how much is allocated.
//! [`Trace::events`]
//! decodes an events block lazily through an [`EventReader`], for readers that merge
//! many blocks in time order.
//!
//! ```
//! use memscope_format::{Event, EventKind, Meta, Record, StackId, ThreadId, Trace, TraceWriter};
//!
//! let mut bytes = Vec::new();
//! let mut writer = TraceWriter::new(&mut bytes, &Meta::default(), 1)?;
//! writer.write_segment_start(&Default::default())?;
//! let event = Event { time_ns: 5, size: 32, stack: StackId(1), kind: EventKind::Alloc };
//! writer.write_events(ThreadId(7), &[event])?;
//!
//! let trace = Trace::parse(&bytes)?;
//! // No end record yet: the trace reads as one cut off at a block boundary.
//! assert_eq!(trace.damage()[0].error.to_string(), "the trace ends at byte 150 without an end record");
//! let records: Vec<Record> = trace.segment_records(0).map(|(_, r)| r.unwrap()).collect();
//! assert!(matches!(&records[1], Record::Events(batch) if batch.events == [event]));
//! # Ok::<(), memscope_format::FormatError>(())
//! ```
//!
//! # Cargo features
//!
//! - `fuzzing` exposes each decoder on its own for the fuzz targets in `fuzz/`; it is
//!   not a stable interface.

#![deny(missing_docs)]

mod block;
mod codec;
mod damage;
mod error;
mod event_reader;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod ids;
mod index;
mod reader;
mod record;
mod varint;
mod writer;

pub use crate::block::{
    BLOCK_HEADER_LEN, BLOCK_SYNC, FILE_HEADER_LEN, LEGACY_BLOCK_HEADER_LEN, MAGIC, MAX_BLOCK_LEN,
    OLDEST_VERSION, VERSION,
};
pub use crate::codec::{
    BlockKind, MAX_BLOCK_EVENTS, MAX_BLOCK_SAMPLES, MAX_EVENT_SIZE, MAX_STACK_FRAMES,
    MAX_THREAD_NAMES, MAX_THREAD_NAME_LEN, MAX_TIME_NS,
};
pub use crate::damage::Damage;
pub use crate::error::{DecodeError, FormatError};
pub use crate::event_reader::EventReader;
pub use crate::ids::{StackId, ThreadId};
pub use crate::reader::{BlockRef, Trace};
pub use crate::record::{
    End, EndReason, Event, EventBatch, EventKind, Meta, Module, ModuleMap, Record, RssSample,
    RunTotals, SegmentStart, StackDef, StackTotals, ThreadName,
};
pub use crate::writer::TraceWriter;
