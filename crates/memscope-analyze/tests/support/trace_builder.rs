//! Writes synthetic traces the way the recorder does: each segment opens with a
//! checkpoint of everything written before it, the module map and the whole stack table.
//! Shared by the replay tests and the benchmark's trace generator.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use memscope_format::{
    End, Event, EventKind, FormatError, Meta, ModuleMap, RunTotals, SegmentStart, StackDef,
    StackId, StackTotals, ThreadId, TraceWriter,
};

/// A trace being written.
pub struct TraceBuilder<W: Write> {
    writer: TraceWriter<W>,
    stacks: Vec<StackDef>,
    totals: BTreeMap<StackId, StackTotals>,
    frees: u64,
    temporary: u64,
    segments: u32,
    threads: BTreeSet<u32>,
}

impl<W: Write> TraceBuilder<W> {
    /// Starts a trace whose segments all define `stacks`.
    pub fn new(out: W, stacks: Vec<StackDef>) -> Result<Self, FormatError> {
        let meta = Meta {
            pid: 1,
            exe: "/synthetic".into(),
            args: vec!["synthetic".into()],
            ..Meta::default()
        };
        let writer = TraceWriter::new(out, &meta, 1)?;
        Ok(TraceBuilder {
            writer,
            stacks,
            totals: BTreeMap::new(),
            frees: 0,
            temporary: 0,
            segments: 0,
            threads: BTreeSet::new(),
        })
    }

    /// Opens a segment stamped `time_ns`, with a checkpoint of everything written so far.
    pub fn segment(&mut self, time_ns: u64) -> Result<(), FormatError> {
        let start = SegmentStart {
            index: self.segments,
            time_ns,
            temporary: self.temporary,
            frees: self.frees,
            stacks: self.totals.values().cloned().collect(),
        };
        self.segments += 1;
        self.writer.write_segment_start(&start)?;
        self.writer.write_modules(&ModuleMap { time_ns, modules: Vec::new() })?;
        self.writer.write_stacks(&self.stacks)
    }

    /// Writes one block of `thread`'s events, oldest first.
    pub fn events(&mut self, thread: u32, events: &[Event]) -> Result<(), FormatError> {
        self.writer.write_events(ThreadId(thread), events)?;
        events.iter().for_each(|event| self.count(event));
        self.threads.insert(thread);
        Ok(())
    }

    /// Overrides one stack's checkpoint totals from now on.
    pub fn set_totals(&mut self, totals: StackTotals) {
        self.totals.insert(totals.stack, totals);
    }

    fn count(&mut self, event: &Event) {
        let totals = self
            .totals
            .entry(event.stack)
            .or_insert(StackTotals { stack: event.stack, ..StackTotals::default() });
        if event.kind == EventKind::Alloc {
            totals.live_bytes = totals.live_bytes.wrapping_add(event.size);
            totals.live_blocks = totals.live_blocks.wrapping_add(1);
            totals.alloc_bytes = totals.alloc_bytes.wrapping_add(event.size);
            totals.alloc_blocks += 1;
        } else {
            totals.live_bytes = totals.live_bytes.wrapping_sub(event.size);
            totals.live_blocks = totals.live_blocks.wrapping_sub(1);
            self.frees += 1;
            self.temporary += u64::from(event.kind == EventKind::FreeTemporary);
        }
    }

    /// Writes the end record, with the totals of the events written (the peak left at
    /// zero); a trace without one was cut off.
    pub fn finish(&mut self, time_ns: u64) -> Result<(), FormatError> {
        let totals = self.totals();
        self.finish_with(End { time_ns, totals: Some(totals), ..End::default() })
    }

    /// Writes `end` as the end record.
    pub fn finish_with(&mut self, end: End) -> Result<(), FormatError> {
        self.writer.write_end(&end)
    }

    /// The recorder's totals of the events written so far (the peak left at zero).
    pub fn totals(&self) -> RunTotals {
        let mut totals = RunTotals {
            frees: self.frees,
            temporary: self.temporary,
            threads: self.threads.len() as u64,
            ..RunTotals::default()
        };
        for stack in self.totals.values() {
            totals.allocations += stack.alloc_blocks;
            totals.bytes_allocated = totals.bytes_allocated.wrapping_add(stack.alloc_bytes);
            totals.leaked_blocks = totals.leaked_blocks.wrapping_add(stack.live_blocks);
            totals.leaked_bytes = totals.leaked_bytes.wrapping_add(stack.live_bytes);
        }
        totals
    }
}

impl<W: Write> TraceBuilder<W> {
    /// `count` segments of 100 ms; in each, thread 7 allocates 1000 bytes from stack 1
    /// at 10 ms into it and frees the previous segment's block at 50 ms into it. The
    /// end record follows at `count` × 100 ms.
    pub fn segments_of_one_block_each(&mut self, count: u64) -> Result<(), FormatError> {
        const MS: u64 = 1_000_000;
        for segment in 0..count {
            let start = segment * 100 * MS;
            self.segment(start)?;
            let mut events = vec![alloc(start + 10 * MS, 1000, 1)];
            if segment > 0 {
                events.push(free(start + 50 * MS, 1000, 1));
            }
            self.events(7, &events)?;
        }
        self.finish(count * 100 * MS)
    }
}

/// An allocation.
pub fn alloc(time_ns: u64, size: u64, stack: u32) -> Event {
    Event { time_ns, size, stack: StackId(stack), kind: EventKind::Alloc }
}

/// A free of a block of `size` bytes from `stack`.
pub fn free(time_ns: u64, size: u64, stack: u32) -> Event {
    Event { time_ns, size, stack: StackId(stack), kind: EventKind::Free }
}
