//! Snapshots at many moments from one replay in time order. Taking each on its own
//! replays a segment from its checkpoint per moment; a report that shows a hundred
//! moments of a trace with a million stacks would spend its time re-adding the same
//! events into maps of a million entries. One pass adds each event once and hands out
//! the running counts as it passes each moment.

use memscope_format::{Event, EventKind};

use crate::block_heads::{for_each_event_before, late_heads};
use crate::counts::StackCounts;
use crate::event_merge::merge_in_time_order;
use crate::filter::EventFilter;
use crate::recording::Recording;
use crate::sampling::Sampling;
use crate::snapshot::{Moment, Snapshot};

/// Where a moment falls in the replay: after every event up to this time and, of the
/// events at that very time, this many.
type Position = (u64, usize);

/// The replay's state.
struct Series<'v> {
    running: Snapshot,
    temporary: i64,
    /// The moments' positions and the times their snapshots carry.
    moments: Vec<(Position, u64)>,
    next: usize,
    /// The last event's position.
    at: Position,
    keeps_everything: bool,
    /// A sampled recording's: snapshots are handed out as the estimates.
    sampling: Option<Sampling>,
    visit: &'v mut dyn FnMut(usize, &Snapshot),
}

impl Series<'_> {
    fn event(&mut self, event: &Event) {
        let count = if self.at.0 == event.time_ns { self.at.1 + 1 } else { 1 };
        self.emit_before((event.time_ns, count));
        self.at = (event.time_ns, count);
        self.count(event);
    }

    /// Adds `event` to the running counts.
    fn count(&mut self, event: &Event) {
        self.running.counts.entry(event.stack).or_default().apply(event);
        self.temporary += i64::from(event.kind == EventKind::FreeTemporary);
    }

    /// Adds the events written after the first checkpoint that happened before its
    /// window: they belong to the state the recording starts from (a rotated series').
    fn add_before_first_window(&mut self, recording: &Recording, filter: &EventFilter) {
        let window_start = recording.segments()[0].window_start;
        for_each_event_before(recording, 0, window_start, |event| {
            if filter.keeps_stack(event.stack) {
                self.count(event);
            }
        });
    }

    /// Hands out every moment that comes before `position`.
    fn emit_before(&mut self, position: Position) {
        while self.moments.get(self.next).is_some_and(|&(moment, _)| moment < position) {
            self.emit_next();
        }
    }

    /// Hands out the moments left, once every event is in.
    fn emit_rest(&mut self) {
        while self.next < self.moments.len() {
            self.emit_next();
        }
    }

    fn emit_next(&mut self) {
        self.running.time_ns = self.moments[self.next].1;
        self.running.temporary = self.keeps_everything.then_some(self.temporary);
        match &self.sampling {
            Some(sampling) => (self.visit)(self.next, &self.running.estimated(sampling)),
            None => (self.visit)(self.next, &self.running),
        }
        self.next += 1;
    }
}

impl Snapshot {
    /// Calls `visit` with the index and the snapshot of each of `moments`, which must be
    /// in time order, replaying `recording` once; each snapshot equals
    /// [`Snapshot::take`]'s for its moment. (The replay starts from the first segment's
    /// checkpoint and adds events from there, where `take` starts from the nearest one;
    /// the two agree wherever checkpoints agree with the events, as the recorder writes
    /// them.)
    pub fn series(
        recording: &Recording,
        moments: &[Moment],
        filter: &EventFilter,
        mut visit: impl FnMut(usize, &Snapshot),
    ) {
        let end_ns = recording.end_ns();
        let positions = moments
            .iter()
            .map(|moment| match *moment {
                Moment::End => ((u64::MAX, usize::MAX), end_ns),
                Moment::At(t) => ((t, usize::MAX), t.min(end_ns)),
                Moment::Peak(peak) => ((peak.time_ns, peak.events_at_time), peak.time_ns),
                Moment::Within { time_ns, events } => ((time_ns, events), time_ns),
            })
            .collect();
        let mut series = Series {
            running: Snapshot::default(),
            temporary: 0,
            moments: positions,
            next: 0,
            at: (u64::MAX, 0),
            keeps_everything: filter.keeps_everything(),
            sampling: recording.sampling(),
            visit: &mut visit,
        };
        recording.read_all_heads();
        // A trace whose oldest segments were rotated away starts from a checkpoint.
        let first = (!recording.segments().is_empty() && filter.thread().is_none())
            .then(|| recording.checkpoint(0))
            .flatten();
        if let Some(start) = first {
            for totals in start.stacks.iter().filter(|t| filter.keeps_stack(t.stack)) {
                let counts = StackCounts::from_totals(totals);
                series.running.counts.entry(totals.stack).or_default().add(&counts);
            }
            series.temporary = start.temporary as i64;
            series.add_before_first_window(recording, filter);
        }
        for segment in 0..recording.segments().len() {
            let window = recording.segments()[segment].window_start..recording.window_end(segment);
            let mut blocks = recording.heads(segment).to_vec();
            blocks.extend(late_heads(recording, segment, window.end.saturating_sub(1)));
            blocks.retain(|head| filter.keeps_thread(head.thread));
            merge_in_time_order(recording, blocks, window, |event| {
                if filter.keeps_stack(event.stack) {
                    series.event(event);
                }
            });
        }
        series.emit_rest();
    }
}
