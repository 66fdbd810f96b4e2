//! One pass over one segment. Segments are independent, so these run in parallel and
//! their results merge into a [`crate::Profile`].

use std::collections::{HashMap, HashSet};

use memscope_format::{
    End, Event, EventKind, FormatError, Module, Record, RssSample, SegmentStart, StackDef, StackId,
    ThreadId, Trace,
};

/// Live and cumulative counts of one stack.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct StackCounts {
    /// Bytes live.
    pub live_bytes: u64,
    /// Blocks live.
    pub live_blocks: u64,
    /// Bytes ever allocated.
    pub alloc_bytes: u64,
    /// Blocks ever allocated.
    pub alloc_blocks: u64,
}

impl StackCounts {
    pub(crate) fn apply(&mut self, event: &Event) {
        if event.kind == EventKind::Alloc {
            self.live_bytes += event.size;
            self.live_blocks += 1;
            self.alloc_bytes += event.size;
            self.alloc_blocks += 1;
        } else {
            self.live_bytes = self.live_bytes.saturating_sub(event.size);
            self.live_blocks = self.live_blocks.saturating_sub(1);
        }
    }
}

/// What one segment says.
#[derive(Default)]
pub(crate) struct SegmentPass {
    pub start: SegmentStart,
    /// Per-stack counts at the end of the segment (checkpoint plus this segment).
    pub counts: HashMap<StackId, StackCounts>,
    pub stacks: Vec<StackDef>,
    pub modules: Vec<Module>,
    pub frees: u64,
    pub temporary: u64,
    pub peak_bytes: u64,
    pub peak_time_ns: u64,
    pub last_time_ns: u64,
    pub threads: HashSet<ThreadId>,
    pub rss: Vec<RssSample>,
    pub end: Option<End>,
    pub events: u64,
    pub damage: Option<FormatError>,
}

impl SegmentPass {
    pub(crate) fn run(trace: &Trace, segment: usize) -> SegmentPass {
        let mut pass = SegmentPass::default();
        let mut timed: Vec<(u64, i64)> = Vec::new();
        for (_, record) in trace.segment_records(segment) {
            match record {
                Ok(record) => pass.take(record, &mut timed),
                Err(err) => {
                    pass.damage = Some(err);
                    break;
                }
            }
        }
        pass.find_peak(timed);
        pass
    }

    fn take(&mut self, record: Record, timed: &mut Vec<(u64, i64)>) {
        match record {
            Record::SegmentStart(start) => self.begin(start),
            Record::Modules(map) => self.modules = map.modules,
            Record::Stacks(defs) => self.stacks.extend(defs),
            Record::Events(batch) => {
                self.threads.insert(batch.thread);
                self.events += batch.events.len() as u64;
                for event in &batch.events {
                    self.count(event);
                    let delta = event.size as i64;
                    timed.push((event.time_ns, if event.kind == EventKind::Alloc { delta } else { -delta }));
                }
            }
            Record::Rss(samples) => self.rss.extend(samples),
            Record::End(end) => self.end = Some(end),
            Record::Meta(_) => {}
        }
    }

    fn begin(&mut self, start: SegmentStart) {
        for totals in &start.stacks {
            self.counts.insert(
                totals.stack,
                StackCounts {
                    live_bytes: totals.live_bytes,
                    live_blocks: totals.live_blocks,
                    alloc_bytes: totals.alloc_bytes,
                    alloc_blocks: totals.alloc_blocks,
                },
            );
        }
        self.frees = start.frees;
        self.temporary = start.temporary;
        self.start = start;
    }

    fn count(&mut self, event: &Event) {
        self.counts.entry(event.stack).or_default().apply(event);
        self.last_time_ns = self.last_time_ns.max(event.time_ns);
        if event.kind.is_free() {
            self.frees += 1;
            self.temporary += u64::from(event.kind == EventKind::FreeTemporary);
        }
    }

    /// Replays the segment's events in time order (threads' blocks interleave) from
    /// the checkpoint's live total, keeping the highest point.
    fn find_peak(&mut self, mut timed: Vec<(u64, i64)>) {
        timed.sort_by_key(|&(time, _)| time);
        let mut live: i64 = self.start.stacks.iter().map(|t| t.live_bytes as i64).sum();
        self.peak_bytes = live.max(0) as u64;
        self.peak_time_ns = self.start.time_ns;
        for (time, delta) in timed {
            live += delta;
            if live > self.peak_bytes as i64 {
                self.peak_bytes = live as u64;
                self.peak_time_ns = time;
            }
        }
    }
}
