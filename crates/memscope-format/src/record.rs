//! What a trace says, decoded: one type per block kind.

use std::ops::Range;

use crate::ids::{StackId, ThreadId};

/// Who was recorded and how; the first block of every trace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    /// Process id of the recorded process.
    pub pid: u32,
    /// Wall-clock start, milliseconds since the Unix epoch.
    pub start_unix_ms: u64,
    /// The executable, as `/proc/self/exe` named it.
    pub exe: String,
    /// The command line, `argv[0]` first.
    pub args: Vec<String>,
    /// How stacks were captured (`dwarf` or `fp`).
    pub unwind: String,
    /// The deepest stack recorded.
    pub max_frames: u32,
    /// Mean bytes between samples: each allocated byte was recorded with probability
    /// 1/`sample_rate`. 0: every allocation was recorded.
    pub sample_rate: u64,
}

/// Whether an event allocated or freed a block.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EventKind {
    /// A block was allocated.
    #[default]
    Alloc = 0,
    /// A block was freed.
    Free = 1,
    /// A block was freed by its thread before that thread allocated anything else.
    FreeTemporary = 2,
}

impl EventKind {
    pub(crate) fn from_tag(tag: u8) -> Option<Self> {
        match tag {
            0 => Some(EventKind::Alloc),
            1 => Some(EventKind::Free),
            2 => Some(EventKind::FreeTemporary),
            _ => None,
        }
    }

    /// True for both kinds of free.
    pub fn is_free(self) -> bool {
        self != EventKind::Alloc
    }
}

/// One allocation or free. A free carries the size and stack of the block it frees,
/// so that readers never have to pair frees with allocations.
///
/// The layout is fixed (`repr(C)`, 24 bytes) because the recorder fills arrays of
/// these directly in its per-thread buffers.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Event {
    /// Nanoseconds since the recorder started.
    pub time_ns: u64,
    /// Bytes requested (for a free: bytes of the freed block).
    pub size: u64,
    /// The allocating call stack.
    pub stack: StackId,
    /// Allocation or free.
    pub kind: EventKind,
}

/// A block of events from one thread, in that thread's order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventBatch {
    /// The thread that made the calls.
    pub thread: ThreadId,
    /// The events, oldest first.
    pub events: Vec<Event>,
}

/// A mapped executable or shared library.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Module {
    /// Path as the dynamic loader reported it.
    pub path: String,
    /// Runtime address minus the ELF virtual address.
    pub load_bias: u64,
    /// GNU build id, empty if the module has none.
    pub build_id: Vec<u8>,
    /// Runtime address ranges of the loadable segments.
    pub ranges: Vec<Range<u64>>,
}

/// The module map at a moment: every module ever seen, so that stacks captured before
/// a `dlclose` still symbolize.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModuleMap {
    /// When the map was taken, nanoseconds since the recorder started.
    pub time_ns: u64,
    /// The modules.
    pub modules: Vec<Module>,
}

/// A call stack, innermost frame first; every address is a return address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StackDef {
    /// The id events refer to.
    pub id: StackId,
    /// Return addresses, the caller of the allocation function first.
    pub frames: Vec<u64>,
}

/// Live and cumulative totals of one stack at a segment start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StackTotals {
    /// The stack.
    pub stack: StackId,
    /// Bytes allocated from it and still live.
    pub live_bytes: u64,
    /// Blocks allocated from it and still live.
    pub live_blocks: u64,
    /// Bytes ever allocated from it.
    pub alloc_bytes: u64,
    /// Blocks ever allocated from it.
    pub alloc_blocks: u64,
}

/// Opens a segment: everything a reader needs to start decoding here, without any
/// earlier segment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SegmentStart {
    /// Position of this segment in the trace, from 0.
    pub index: u32,
    /// Nanoseconds since the recorder started.
    pub time_ns: u64,
    /// Frees that were temporary, before this segment.
    pub temporary: u64,
    /// Frees before this segment.
    pub frees: u64,
    /// Per-stack totals before this segment (stacks with nothing live or allocated are left out).
    pub stacks: Vec<StackTotals>,
}

/// Resident memory of the process, sampled by the recorder.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct RssSample {
    /// Nanoseconds since the recorder started.
    pub time_ns: u64,
    /// Resident set size in bytes.
    pub rss_bytes: u64,
}

/// Why the recorder stopped writing.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum EndReason {
    /// The process called `exit` (or returned from `main`).
    #[default]
    Exit,
    /// The process called `_exit` or `_Exit`.
    ImmediateExit,
    /// The process image was replaced by `exec`.
    Exec,
    /// The process was killed by this signal.
    Signal(i32),
}

/// The last block of a cleanly finished trace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct End {
    /// Nanoseconds since the recorder started.
    pub time_ns: u64,
    /// Why the recording stopped.
    pub reason: EndReason,
    /// The process's peak resident set size (VmHWM), in bytes.
    pub peak_rss_bytes: u64,
    /// Events that could not be written.
    pub dropped_events: u64,
    /// What the recorder counted as it wrote the events (format version 3 on), so the
    /// headline numbers need no replay of the trace.
    pub totals: Option<RunTotals>,
    /// The names of the threads, as the recorder last saw them (empty in traces written
    /// before names were recorded). Only written after `totals`.
    pub threads: Vec<ThreadName>,
}

/// A thread's name (its `comm`, at most 15 bytes on Linux), by thread id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ThreadName {
    /// The kernel thread id.
    pub thread: ThreadId,
    /// The name.
    pub name: String,
}

/// Totals over every event written, kept by the recorder.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunTotals {
    /// Allocation events.
    pub allocations: u64,
    /// Free events, temporary ones included.
    pub frees: u64,
    /// Frees that the recorder marked temporary.
    pub temporary: u64,
    /// Bytes of all allocations.
    pub bytes_allocated: u64,
    /// Blocks allocated and never freed.
    pub leaked_blocks: u64,
    /// Bytes of those blocks.
    pub leaked_bytes: u64,
    /// The highest live heap, in bytes.
    pub peak_bytes: u64,
    /// When it was first reached, nanoseconds since start.
    pub peak_time_ns: u64,
    /// Distinct thread ids that allocated or freed.
    pub threads: u64,
}

/// One decoded block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// The trace's preamble.
    Meta(Meta),
    /// A segment opens.
    SegmentStart(SegmentStart),
    /// The module map changed.
    Modules(ModuleMap),
    /// New stacks were interned.
    Stacks(Vec<StackDef>),
    /// Allocations and frees.
    Events(EventBatch),
    /// Resident memory samples.
    Rss(Vec<RssSample>),
    /// The recording ended cleanly.
    End(End),
}
