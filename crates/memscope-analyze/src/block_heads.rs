//! The head of every events block: whose events it holds and when they start. That is
//! enough to plan a time-ordered merge, which then opens each block only when the merge
//! reaches its first event, instead of holding a whole segment in memory.

use memscope_format::{Event, ThreadId};
use rayon::prelude::*;

use crate::recording::Recording;

/// Where one events block starts.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct BlockHead {
    /// Index into the trace's blocks.
    pub block: usize,
    /// The segment that holds it.
    pub segment: usize,
    /// The thread whose events these are.
    pub thread: ThreadId,
    /// Time of the first event (events in a block are in time order).
    pub first_ns: u64,
    /// Events in the block.
    pub events: usize,
}

/// Reads the heads of one segment's events blocks in parallel, leaving out empty blocks
/// and noting blocks that do not decode.
pub(crate) fn read_heads(recording: &Recording, segment: usize) -> Vec<BlockHead> {
    recording.segments()[segment]
        .events
        .par_iter()
        .filter_map(|&block| read_head(recording, segment, block))
        .collect()
}

/// The head of one events block, if it has events and decodes.
pub(crate) fn read_head(recording: &Recording, segment: usize, block: usize) -> Option<BlockHead> {
    let mut reader = recording.events(block)?;
    let (thread, events) = (reader.thread(), reader.remaining());
    match reader.next()? {
        Ok(first) => Some(BlockHead { block, segment, thread, first_ns: first.time_ns, events }),
        Err(err) => {
            recording.note_block(block, &err);
            None
        }
    }
}

/// The blocks that may hold events up to `until_ns` in the windows after `segment`:
/// blocks of later segments that start by then. The scan stops at the first later
/// segment without any, since a late block is written at most one segment late.
pub(crate) fn late_heads(recording: &Recording, segment: usize, until_ns: u64) -> Vec<BlockHead> {
    heads_from(recording, segment + 1, until_ns)
}

/// Calls `visit` with every event written in `segment` or after it that happened
/// before `window_start`, in block order: the events that belong, with the segment's
/// checkpoint, to the level its window starts from (a busy thread's late blocks).
pub(crate) fn for_each_event_before(
    recording: &Recording,
    segment: usize,
    window_start: u64,
    mut visit: impl FnMut(&Event),
) {
    for head in heads_from(recording, segment, window_start.saturating_sub(1)) {
        let Some(batch) = recording.event_batch(head.segment, head.block) else { continue };
        batch.events.iter().take_while(|event| event.time_ns < window_start).for_each(&mut visit);
    }
}

/// The blocks of `first` and the segments after it that start by `until_ns`, up to the
/// first segment without any.
fn heads_from(recording: &Recording, first: usize, until_ns: u64) -> Vec<BlockHead> {
    let mut late = Vec::new();
    for later in first..recording.segments().len() {
        let before = late.len();
        late.extend(recording.heads(later).iter().filter(|h| h.first_ns <= until_ns));
        if late.len() == before {
            break;
        }
    }
    late
}
