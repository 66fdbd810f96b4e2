//! What was live at one moment, per stack: replayed from the checkpoint of the segment
//! whose window holds the moment, so a question about one moment decodes one segment
//! (and the few blocks written late into the next).

use std::collections::HashMap;

use memscope_format::{Event, EventKind, StackId};
use rayon::prelude::*;

use crate::block_heads::late_heads;
use crate::counts::StackCounts;
use crate::event_merge::merge_in_time_order;
use crate::filter::EventFilter;
use crate::peak::Peak;
use crate::problems::{Loss, Problem};
use crate::recording::Recording;
use crate::sampling::Sampling;

/// When to take a [`Snapshot`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Moment {
    /// After the last event.
    End,
    /// After every event up to and including this time, in nanoseconds.
    At(u64),
    /// At a peak found by [`Peak::find`] with the same filter: after the events of its
    /// clock tick up to the one that reached it.
    Peak(Peak),
    /// Between two events of one clock tick: after every event before `time_ns` and the
    /// first `events` of `time_ns`, in the replay's order, counting what the filter
    /// keeps. Reports name such a moment `MS#EVENTS` (see [`Peak::events_at_time`]):
    /// the clock ticks when the collector looks, so one tick can hold a high and the
    /// frees after it.
    Within {
        /// The tick, nanoseconds.
        time_ns: u64,
        /// Events of the tick applied.
        events: usize,
    },
}

impl Moment {
    /// The moment of a high reached after `events` events of time `time_ns`.
    pub fn within(time_ns: u64, events: usize) -> Moment {
        Moment::Within { time_ns, events }
    }
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
    fn apply(&mut self, event: &Event) {
        self.counts.entry(event.stack).or_default().apply(event);
        self.temporary =
            self.temporary.saturating_add(i64::from(event.kind == EventKind::FreeTemporary));
    }

    fn merge(mut self, other: Tally) -> Tally {
        for (stack, counts) in other.counts {
            self.counts.entry(stack).or_default().add(&counts);
        }
        self.temporary = self.temporary.saturating_add(other.temporary);
        self
    }
}

impl Snapshot {
    /// Replays `recording` up to `moment`, counting the events `filter` keeps.
    ///
    /// Without a thread filter this starts from a checkpoint. Checkpoints count all
    /// threads together, so with one it adds up every segment up to the moment.
    ///
    /// The counts of a sampled recording are estimates (see [`Sampling`]).
    pub fn take(recording: &Recording, moment: Moment, filter: &EventFilter) -> Snapshot {
        let samples = Snapshot::take_samples(recording, moment, filter);
        match recording.sampling() {
            Some(sampling) => samples.estimated(&sampling),
            None => samples,
        }
    }

    /// The counts of what was recorded by `moment`, unscaled even in a sampled
    /// recording: for formats that carry the rate and leave the scaling to their reader
    /// (Go's legacy text profile).
    pub fn take_samples(recording: &Recording, moment: Moment, filter: &EventFilter) -> Snapshot {
        match moment {
            Moment::End => {
                let snapshot = Snapshot::before(recording, u64::MAX, filter);
                if filter.keeps_everything() {
                    check_end(recording, &snapshot.total());
                }
                snapshot
            }
            Moment::At(time_ns) => Snapshot::before(recording, time_ns.saturating_add(1), filter),
            Moment::Peak(peak) => {
                let moment = Moment::within(peak.time_ns, peak.events_at_time);
                Snapshot::take_samples(recording, moment, filter)
            }
            Moment::Within { time_ns, events } => {
                let mut snapshot = Snapshot::before(recording, time_ns, filter);
                snapshot.add_tick(recording, time_ns, events, filter);
                snapshot
            }
        }
    }

    /// The counts of the events before `end_ns`.
    fn before(recording: &Recording, end_ns: u64, filter: &EventFilter) -> Snapshot {
        let time_ns = end_ns.saturating_sub(1).min(recording.end_ns());
        let last_ns = end_ns.saturating_sub(1);
        let Some(segment) = recording.segment_at(last_ns) else {
            return Snapshot { time_ns, ..Snapshot::default() };
        };
        let from_checkpoint = filter.thread().is_none();
        let first = if from_checkpoint { segment } else { 0 };
        let mut blocks: Vec<(usize, usize)> = (first..=segment)
            .flat_map(|s| recording.segments()[s].events.iter().map(move |&block| (s, block)))
            .collect();
        let late = late_heads(recording, segment, last_ns);
        blocks.extend(late.iter().map(|head| (head.segment, head.block)));
        let tally = blocks
            .par_iter()
            .fold(Tally::default, |tally, &block| {
                tally_block(tally, recording, block, end_ns, filter)
            })
            .reduce(Tally::default, Tally::merge);
        let mut snapshot = Snapshot { time_ns, counts: tally.counts, temporary: None };
        if from_checkpoint {
            snapshot.add_checkpoint(recording, segment, filter, tally.temporary);
        }
        snapshot
    }

    /// Adds the first `events` events of the clock tick `time_ns` that `filter` keeps,
    /// in the replay's order.
    fn add_tick(
        &mut self,
        recording: &Recording,
        time_ns: u64,
        events: usize,
        filter: &EventFilter,
    ) {
        // A trace with no segment (only its header block, say) has no tick to add.
        let Some(segment) = recording.segment_at(time_ns) else { return };
        let mut blocks = recording.heads(segment).to_vec();
        blocks.extend(late_heads(recording, segment, time_ns));
        blocks.retain(|head| filter.keeps_thread(head.thread));
        let mut tally = Tally::default();
        let mut left = events;
        let tick = time_ns..time_ns.saturating_add(1);
        merge_in_time_order(recording, blocks, tick, |event| {
            if left > 0 && filter.keeps_stack(event.stack) {
                left -= 1;
                tally.apply(event);
            }
        });
        let before = Tally { counts: std::mem::take(&mut self.counts), temporary: 0 };
        let merged = before.merge(tally);
        self.counts = merged.counts;
        self.temporary = self.temporary.map(|before| before + merged.temporary);
        self.time_ns = time_ns;
    }

    fn add_checkpoint(
        &mut self,
        recording: &Recording,
        segment: usize,
        filter: &EventFilter,
        temporary: i64,
    ) {
        let Some(start) = recording.checkpoint(segment) else { return };
        for totals in start.stacks.iter().filter(|t| filter.keeps_stack(t.stack)) {
            self.counts.entry(totals.stack).or_default().add(&StackCounts::from_totals(totals));
        }
        if filter.keeps_everything() {
            self.temporary = Some(start.temporary as i64 + temporary);
        }
    }

    /// The counts a sampled recording's snapshot stands for.
    pub(crate) fn estimated(&self, sampling: &Sampling) -> Snapshot {
        let counts = self.counts.iter().map(|(&stack, c)| (stack, sampling.estimate(c))).collect();
        Snapshot { time_ns: self.time_ns, counts, temporary: self.temporary }
    }

    /// The stacks with blocks live, most bytes first (then by stack id, for a stable
    /// order). Under a thread filter a stack can hold less than nothing (the thread
    /// freed blocks others allocated there): such stacks are listed too, by magnitude,
    /// so that the stacks add up to the total.
    pub fn live_stacks(&self) -> Vec<(StackId, StackCounts)> {
        let mut live: Vec<(StackId, StackCounts)> = self
            .counts
            .iter()
            .filter(|(_, c)| c.live_blocks != 0 || c.live_bytes != 0)
            .map(|(&s, &c)| (s, c))
            .collect();
        let magnitude = |c: &StackCounts| c.live_bytes.unsigned_abs();
        live.sort_by(|a, b| magnitude(&b.1).cmp(&magnitude(&a.1)).then(a.0.cmp(&b.0)));
        live
    }

    /// The counts of all stacks together.
    pub fn total(&self) -> StackCounts {
        let mut total = StackCounts::default();
        self.counts.values().for_each(|counts| total.add(counts));
        total
    }
}

/// Adds the events of one block (of a segment) before `end_ns` to `tally`.
fn tally_block(
    mut tally: Tally,
    recording: &Recording,
    (segment, block): (usize, usize),
    end_ns: u64,
    filter: &EventFilter,
) -> Tally {
    let Some(batch) = recording.event_batch(segment, block) else { return tally };
    if !filter.keeps_thread(batch.thread) {
        return tally;
    }
    for event in batch.events.iter().take_while(|event| event.time_ns < end_ns) {
        if filter.keeps_stack(event.stack) {
            tally.apply(event);
        }
    }
    tally
}

/// What the whole recording holds at its end cannot be below zero, nor at the limits
/// of the sums: either means damage, which is noted.
fn check_end(recording: &Recording, total: &StackCounts) {
    if total.is_saturated() {
        let message = "sums of sizes run past 2^63 bytes; the figures are capped".to_owned();
        recording.note(Problem::of_trace(recording.trace().len(), message, Loss::Nothing));
    }
    if total.live_blocks < 0 || total.live_bytes < 0 {
        let message = format!(
            "the trace frees {} blocks ({} bytes) more than it allocates",
            total.live_blocks.unsigned_abs(),
            total.live_bytes.unsigned_abs()
        );
        recording.note(Problem::of_trace(recording.trace().len(), message, Loss::Nothing));
    }
}
