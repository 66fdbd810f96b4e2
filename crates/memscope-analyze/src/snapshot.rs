//! What was live at one moment, per stack: replayed from the checkpoint of the segment
//! whose window holds the moment, so a question about one moment decodes one segment
//! (and the few blocks written late into the next).

use std::collections::HashMap;

use memscope_format::{EventKind, StackId};
use rayon::prelude::*;

use crate::block_heads::late_heads;
use crate::counts::StackCounts;
use crate::filter::EventFilter;
use crate::recording::Recording;

/// When to take a [`Snapshot`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Moment {
    /// After the last event.
    End,
    /// After every event up to and including this time, in nanoseconds.
    At(u64),
}

/// Per-stack counts at a moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// The moment, in nanoseconds (the recording's end for [`Moment::End`]).
    pub time_ns: u64,
    /// Counts of every stack that allocated by then.
    pub counts: HashMap<StackId, StackCounts>,
    /// Frees that were temporary. Checkpoints count these for the whole process only, so
    /// they are known only when the filter keeps everything.
    pub temporary: Option<i64>,
}

/// What blocks add up to.
#[derive(Default)]
struct Tally {
    counts: HashMap<StackId, StackCounts>,
    temporary: i64,
}

impl Tally {
    fn merge(mut self, other: Tally) -> Tally {
        for (stack, counts) in other.counts {
            self.counts.entry(stack).or_default().add(&counts);
        }
        self.temporary += other.temporary;
        self
    }
}

impl Snapshot {
    /// Replays `recording` up to `moment`, counting the events `filter` keeps.
    ///
    /// Without a thread filter this starts from a checkpoint. Checkpoints count all
    /// threads together, so with one it adds up every segment up to the moment.
    pub fn take(recording: &Recording, moment: Moment, filter: &EventFilter) -> Snapshot {
        let until = match moment {
            Moment::End => u64::MAX,
            Moment::At(time_ns) => time_ns,
        };
        let time_ns = until.min(recording.end_ns());
        if recording.segments().is_empty() {
            return Snapshot { time_ns, ..Snapshot::default() };
        }
        let segment = recording.segment_at(until);
        let from_checkpoint = filter.thread().is_none();
        let first = if from_checkpoint { segment } else { 0 };
        let mut blocks: Vec<usize> =
            recording.segments()[first..=segment].iter().flat_map(|s| s.events.iter().copied()).collect();
        blocks.extend(late_heads(recording, segment, until).iter().map(|head| head.block));
        let tally = blocks
            .par_iter()
            .fold(Tally::default, |tally, &block| tally_block(tally, recording, block, until, filter))
            .reduce(Tally::default, Tally::merge);
        let mut snapshot = Snapshot { time_ns, counts: tally.counts, temporary: None };
        if from_checkpoint {
            snapshot.add_checkpoint(recording, segment, filter, tally.temporary);
        }
        snapshot
    }

    fn add_checkpoint(&mut self, recording: &Recording, segment: usize, filter: &EventFilter, temporary: i64) {
        let start = &recording.segments()[segment].start;
        for totals in start.stacks.iter().filter(|t| filter.keeps_stack(t.stack)) {
            self.counts.entry(totals.stack).or_default().add(&StackCounts::from_totals(totals));
        }
        if filter.keeps_everything() {
            self.temporary = Some(start.temporary as i64 + temporary);
        }
    }

    /// The stacks with blocks live, most bytes first (then by stack id, for a stable
    /// order).
    pub fn live_stacks(&self) -> Vec<(StackId, StackCounts)> {
        let mut live: Vec<(StackId, StackCounts)> =
            self.counts.iter().filter(|(_, c)| c.live_blocks > 0).map(|(&s, &c)| (s, c)).collect();
        live.sort_by(|a, b| b.1.live_bytes.cmp(&a.1.live_bytes).then(a.0.cmp(&b.0)));
        live
    }

    /// The counts of all stacks together.
    pub fn total(&self) -> StackCounts {
        let mut total = StackCounts::default();
        self.counts.values().for_each(|counts| total.add(counts));
        total
    }
}

/// Adds the events of one block up to `until` to `tally`.
fn tally_block(mut tally: Tally, recording: &Recording, block: usize, until: u64, filter: &EventFilter) -> Tally {
    let Some(reader) = recording.events(block) else { return tally };
    if !filter.keeps_thread(reader.thread()) {
        return tally;
    }
    for event in reader {
        match event {
            Ok(event) if event.time_ns > until => break,
            Ok(event) if filter.keeps_stack(event.stack) => {
                tally.counts.entry(event.stack).or_default().apply(&event);
                tally.temporary += i64::from(event.kind == EventKind::FreeTemporary);
            }
            Ok(_) => {}
            Err(err) => {
                recording.note_damage(&err);
                break;
            }
        }
    }
    tally
}
