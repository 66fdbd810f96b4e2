//! Events of many blocks in time order: a k-way merge of the blocks' runs (each block is
//! one thread's events, in order). Blocks are opened only when the merge reaches their
//! first event, so memory holds the blocks that overlap in time, not a whole segment.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::Range;

use memscope_format::{Event, EventReader};

use crate::block_heads::BlockHead;
use crate::recording::Recording;

/// One open block and its next event.
struct Run {
    reader: EventReader,
    next: Event,
}

/// The merge state: blocks not opened yet (latest first, so the next is at the end), open
/// runs in slots that are reused once a run ends, and the heap of open runs by their next
/// event's time.
struct Merge<'r, 'a> {
    recording: &'r Recording<'a>,
    window: Range<u64>,
    pending: Vec<BlockHead>,
    slots: Vec<Option<Run>>,
    free: Vec<usize>,
    heap: BinaryHeap<Reverse<(u64, usize)>>,
}

/// Calls `visit` with every event of `blocks` whose time is in `window`, oldest first.
/// Events of equal time come in no particular order.
pub(crate) fn merge_in_time_order(
    recording: &Recording,
    mut blocks: Vec<BlockHead>,
    window: Range<u64>,
    mut visit: impl FnMut(&Event),
) {
    blocks.sort_by_key(|head| Reverse((head.first_ns, head.block)));
    let mut merge = Merge {
        recording,
        window,
        pending: blocks,
        slots: Vec::new(),
        free: Vec::new(),
        heap: BinaryHeap::new(),
    };
    while let Some(slot) = merge.earliest_run() {
        merge.drain(slot, &mut visit);
    }
}

impl Merge<'_, '_> {
    fn pending_start(&self) -> u64 {
        self.pending.last().map_or(u64::MAX, |head| head.first_ns)
    }

    fn heap_start(&self) -> u64 {
        self.heap.peek().map_or(u64::MAX, |Reverse((time, _))| *time)
    }

    /// Opens every block that starts no later than the earliest open run, then takes
    /// that run off the heap.
    fn earliest_run(&mut self) -> Option<usize> {
        while !self.pending.is_empty() && self.pending_start() <= self.heap_start() {
            let head = self.pending.pop()?;
            self.open(&head);
        }
        self.heap.pop().map(|Reverse((_, slot))| slot)
    }

    /// Opens a block at its first event in the window, if it has one.
    fn open(&mut self, head: &BlockHead) {
        let Some(mut reader) = self.recording.events(head.block) else { return };
        let window = self.window.clone();
        let Some(next) = self.next_event(&mut reader, |time| time >= window.start) else { return };
        let slot = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        self.slots[slot] = Some(Run { reader, next });
        self.heap.push(Reverse((next.time_ns, slot)));
    }

    /// The reader's next event that `wanted` accepts, or `None` once it has nothing more
    /// in the window.
    fn next_event(&self, reader: &mut EventReader, wanted: impl Fn(u64) -> bool) -> Option<Event> {
        for event in reader.by_ref() {
            match event {
                Ok(event) if event.time_ns >= self.window.end => return None,
                Ok(event) if wanted(event.time_ns) => return Some(event),
                Ok(_) => {}
                Err(err) => {
                    self.recording.note_damage(&err);
                    return None;
                }
            }
        }
        None
    }

    /// Visits the run in `slot` up to the next start of another run, then puts it back on
    /// the heap if it has more, or frees the slot.
    fn drain(&mut self, slot: usize, visit: &mut impl FnMut(&Event)) {
        let bound = self.heap_start().min(self.pending_start());
        let Some(mut run) = self.slots[slot].take() else { return };
        loop {
            visit(&run.next);
            match self.next_event(&mut run.reader, |_| true) {
                Some(next) if next.time_ns > bound => {
                    run.next = next;
                    self.heap.push(Reverse((next.time_ns, slot)));
                    self.slots[slot] = Some(run);
                    return;
                }
                Some(next) => run.next = next,
                None => {
                    self.free.push(slot);
                    return;
                }
            }
        }
    }
}
