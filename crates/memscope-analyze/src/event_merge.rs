//! Events of many blocks in time order: a k-way merge of the blocks' runs (each block is
//! one thread's events, in order). Blocks are opened only when the merge reaches their
//! first event and dropped when done, so memory holds the blocks that overlap in time
//! (about one per thread), not a whole segment. A crafted trace could make thousands of
//! blocks overlap: the events held at once are bounded by what the file's size allows
//! ([`Recording::events_budget`]), and a block beyond it is reported as damage.

use std::ops::Range;

use memscope_format::Event;

use crate::block_heads::BlockHead;
use crate::recording::Recording;

/// One open block: its events in the window, and how far the merge got.
struct Run {
    events: Vec<Event>,
    next: usize,
    block: usize,
}

impl Run {
    /// Where the run's next event comes in the merge: by time, then by block.
    fn key(&self) -> (u64, usize) {
        (self.events[self.next].time_ns, self.block)
    }
}

/// Calls `visit` with every event of `blocks` whose time is in `window`, oldest first.
///
/// Events of one timestamp (threads' clocks tick together) come block by block, in file
/// order, each block's in its own order: a fixed order, so replaying a part of a window
/// meets the events in the same order as replaying all of it.
///
/// The open runs are few (threads that ran at the same time), so the earliest is found by
/// scanning them; each turn visits the earliest run's events up to the next start of
/// another, which for threads that take turns is a long stretch.
pub(crate) fn merge_in_time_order(
    recording: &Recording,
    mut blocks: Vec<BlockHead>,
    window: Range<u64>,
    mut visit: impl FnMut(&Event),
) {
    // Latest first, so the next block to open is at the end.
    blocks.sort_by_key(|head| std::cmp::Reverse((head.first_ns, head.block)));
    let mut runs: Vec<Run> = Vec::new();
    loop {
        let pending =
            blocks.last().map_or((u64::MAX, usize::MAX), |head| (head.first_ns, head.block));
        let (earliest, bound) = earliest_two(&runs);
        if blocks.is_empty() && runs.is_empty() {
            return;
        }
        let Some(index) = earliest.filter(|&i| runs[i].key() < pending) else {
            if let Some(run) = blocks.pop().and_then(|head| open(recording, &head, &window)) {
                let held: usize = runs.iter().map(|run| run.events.len() - run.next).sum();
                if held + run.events.len() > recording.events_budget() {
                    recording.note_overlap(run.block);
                } else {
                    runs.push(run);
                }
            }
            continue;
        };
        // The earliest event goes first; its run goes on while it stays before every
        // other run and the next block to open.
        let run = &mut runs[index];
        let bound = bound.min(pending);
        loop {
            visit(&run.events[run.next]);
            run.next += 1;
            if run.next == run.events.len() {
                runs.swap_remove(index);
                break;
            }
            if run.key() > bound {
                break;
            }
        }
    }
}

/// The run that comes first, and the key of the one after it.
fn earliest_two(runs: &[Run]) -> (Option<usize>, (u64, usize)) {
    let none = (u64::MAX, usize::MAX);
    let (mut best, mut best_key, mut second) = (None, none, none);
    for (index, run) in runs.iter().enumerate() {
        let key = run.key();
        if key < best_key {
            (second, best, best_key) = (best_key, Some(index), key);
        } else if key < second {
            second = key;
        }
    }
    (best, second)
}

/// Decodes a block and keeps its events in the window; `None` if it has none.
fn open(recording: &Recording, head: &BlockHead, window: &Range<u64>) -> Option<Run> {
    let mut events = recording.event_batch(head.segment, head.block)?.events;
    let from = events.partition_point(|event| event.time_ns < window.start);
    let to = events.partition_point(|event| event.time_ns < window.end);
    events.truncate(to);
    events.drain(..from);
    (!events.is_empty()).then_some(Run { events, next: 0, block: head.block })
}
