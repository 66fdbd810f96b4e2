//! The trace of one recorded image, written as the collector pairs its events: segments
//! with their checkpoints, stack and module definitions ahead of the events that use
//! them, RSS samples, and the end record with the run's totals, counted as the events
//! are written so that they equal a replay of the file.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Seek, SeekFrom};

use memscope_format::{
    End, Event, EventKind, FormatError, Meta, Module, ModuleMap, RssSample, RunTotals,
    SegmentStart, StackDef, StackTotals, ThreadId, TraceWriter,
};

use crate::destination::{Destination, Series};
use crate::heap_curve::HeapCurve;
use crate::live::{LiveSnapshot, SharedStacks};

/// Events per segment: small enough that segments decode in parallel, large enough that
/// their headers (the full stack table) stay a small share of the file.
const SEGMENT_EVENTS: u64 = 1 << 21;
const ZSTD_LEVEL: i32 = 1;

/// A trace being written, and the totals of what it holds.
pub(crate) struct TraceOut {
    out: Option<TraceWriter<File>>,
    /// The series the trace rotates through, if it does.
    series: Option<Series>,
    meta: Meta,
    /// The first write error; nothing is written after it.
    pub error: Option<String>,
    /// Events that could not be written.
    pub unwritten: u64,
    totals: Vec<StackTotals>,
    frees: u64,
    temporary: u64,
    pub(crate) curve: HeapCurve,
    threads: HashSet<ThreadId>,
    segment_index: u32,
    segment_events: u64,
    stacks: SharedStacks,
    stacks_written: usize,
    modules: Vec<Module>,
    modules_written: bool,
    rss: Vec<RssSample>,
    /// The latest resident set sample, and the highest.
    rss_now: (u64, u64),
    /// The latest event time written: segment stamps and the end come no earlier.
    latest_ns: u64,
    /// The collector's clock as last told.
    pub(crate) clock_ns: u64,
}

impl TraceOut {
    /// Starts the trace at `destination` with its header and first segment.
    pub(crate) fn create(destination: Destination, meta: &Meta) -> TraceOut {
        let (file, series) = match destination {
            Destination::File(file) => (Some(Ok(file)), None),
            Destination::Series(mut series) => (Some(series.next_file()), Some(series)),
            Destination::Nowhere => (None, None),
        };
        let opened = file.map(|file| {
            file.map_err(FormatError::Write).and_then(|f| TraceWriter::new(f, meta, ZSTD_LEVEL))
        });
        let (out, error) = match opened {
            Some(Ok(out)) => (Some(out), None),
            Some(Err(err)) => (None, Some(describe(&err))),
            None => (None, None),
        };
        let mut trace = TraceOut {
            out,
            series,
            meta: meta.clone(),
            error,
            unwritten: 0,
            totals: Vec::new(),
            frees: 0,
            temporary: 0,
            curve: HeapCurve::default(),
            threads: HashSet::new(),
            segment_index: 0,
            segment_events: 0,
            stacks: SharedStacks::default(),
            stacks_written: 0,
            modules: Vec::new(),
            modules_written: false,
            rss: Vec::new(),
            rss_now: (0, 0),
            latest_ns: 0,
            clock_ns: 0,
        };
        trace.start_segment(0);
        trace
    }

    /// A new stack definition, written before the next events.
    pub(crate) fn define_stack(&mut self, def: StackDef) {
        self.lock_stacks().push(def);
    }

    fn lock_stacks(&self) -> std::sync::MutexGuard<'_, Vec<StackDef>> {
        self.stacks.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The module map changed.
    pub(crate) fn set_modules(&mut self, modules: Vec<Module>) {
        self.modules = modules;
        self.modules_written = false;
    }

    /// A resident-memory sample, written with the next batch of samples.
    pub(crate) fn push_rss(&mut self, sample: RssSample) {
        self.rss_now = (sample.rss_bytes, self.rss_now.1.max(sample.rss_bytes));
        self.rss.push(sample);
    }

    /// Writes the pending RSS samples.
    pub(crate) fn flush_rss(&mut self) {
        if !self.rss.is_empty() {
            let samples = std::mem::take(&mut self.rss);
            self.attempt(|out| out.write_rss(&samples));
        }
    }

    /// Writes one thread's events (oldest first), counting them into the totals. An
    /// event whose time was already closed in the heap curve takes the oldest open time,
    /// in the file too. `now_ns` stamps a segment opened before them.
    pub(crate) fn write_events(&mut self, thread: ThreadId, events: &mut [Event], now_ns: u64) {
        if events.is_empty() {
            return;
        }
        if self.is_file_full() {
            self.rotate(now_ns);
        } else if self.segment_events >= SEGMENT_EVENTS {
            self.start_segment(now_ns);
        }
        self.write_definitions();
        for event in events.iter_mut() {
            event.time_ns = self.curve.admit(event.time_ns);
        }
        if !self.attempt(|out| out.write_events(thread, events)) {
            self.unwritten += events.len() as u64;
            return;
        }
        // Counted once written: the totals are those of the file.
        events.iter().for_each(|event| self.count(event));
        self.latest_ns = self.latest_ns.max(events.last().map_or(0, |e| e.time_ns));
        self.threads.insert(thread);
        self.segment_events += events.len() as u64;
    }

    fn count(&mut self, event: &Event) {
        let index = event.stack.0 as usize;
        if index >= self.totals.len() {
            self.totals.resize_with(index + 1, StackTotals::default);
        }
        let totals = &mut self.totals[index];
        totals.stack = event.stack;
        let size = event.size as i64;
        if event.kind == EventKind::Alloc {
            self.curve.add(event.time_ns, size);
            // Wrapping too: the free may have been written first (see below).
            totals.live_bytes = totals.live_bytes.wrapping_add(event.size);
            totals.live_blocks = totals.live_blocks.wrapping_add(1);
            totals.alloc_bytes += event.size;
            totals.alloc_blocks += 1;
        } else {
            // Wrapping: blocks are written per thread, so a free of another thread's
            // block may be written before the allocation it ends.
            totals.live_bytes = totals.live_bytes.wrapping_sub(event.size);
            totals.live_blocks = totals.live_blocks.wrapping_sub(1);
            self.curve.add(event.time_ns, -size);
            self.frees += 1;
            self.temporary += u64::from(event.kind == EventKind::FreeTemporary);
        }
    }

    fn is_file_full(&self) -> bool {
        let written = self.out.as_ref().map_or(0, TraceWriter::bytes_written);
        self.series.as_ref().is_some_and(|series| written >= series.max_bytes)
    }

    /// Goes on in the series' next file, which opens with a segment of its own.
    fn rotate(&mut self, now_ns: u64) {
        self.flush_rss();
        let Some(series) = self.series.as_mut() else { return };
        let next = series.next_file().map_err(FormatError::Write);
        match next.and_then(|file| TraceWriter::new(file, &self.meta, ZSTD_LEVEL)) {
            Ok(out) => self.out = Some(out),
            Err(err) => {
                self.error = Some(describe(&err));
                return;
            }
        }
        self.start_segment(now_ns);
    }

    /// Opens a segment with everything a reader needs to start there.
    fn start_segment(&mut self, now_ns: u64) {
        let start = SegmentStart {
            index: self.segment_index,
            time_ns: now_ns.max(self.latest_ns),
            temporary: self.temporary,
            frees: self.frees,
            stacks: self.totals.iter().filter(|t| t.alloc_blocks > 0).cloned().collect(),
        };
        self.segment_index += 1;
        self.segment_events = 0;
        self.attempt(|out| out.write_segment_start(&start));
        self.modules_written = false;
        self.stacks_written = 0;
        self.write_definitions();
    }

    fn write_definitions(&mut self) {
        if !self.modules_written {
            self.modules_written = true;
            let map = ModuleMap { time_ns: 0, modules: self.modules.clone() };
            self.attempt(|out| out.write_modules(&map));
        }
        let defined = self.lock_stacks().len();
        if self.stacks_written < defined && self.out.is_some() {
            let new = self.lock_stacks()[self.stacks_written..defined].to_vec();
            self.stacks_written = defined;
            self.attempt(|out| out.write_stacks(&new));
        }
    }

    /// The state after every event written so far.
    pub(crate) fn live_snapshot(&self) -> LiveSnapshot {
        let (peak_bytes, peak_time_ns) = self.curve.peak_so_far();
        LiveSnapshot {
            meta: self.meta.clone(),
            time_ns: self.latest_ns.max(self.clock_ns),
            totals: self.totals.iter().filter(|t| t.alloc_blocks > 0).cloned().collect(),
            stacks: self.stacks.clone(),
            stack_count: self.lock_stacks().len(),
            modules: self.modules.clone(),
            frees: self.frees,
            temporary: self.temporary,
            threads: self.threads.len() as u64,
            peak_bytes,
            peak_time_ns,
            rss_bytes: self.rss_now.0,
            peak_rss_bytes: self.rss_now.1,
            highs: self.curve.highs().to_vec(),
        }
    }

    /// Writes the end record, with the totals of every event written.
    pub(crate) fn finish(&mut self, mut end: End) {
        self.flush_rss();
        self.curve.close_before(u64::MAX);
        let (peak_bytes, peak_time_ns) = self.curve.peak();
        let mut sums = RunTotals {
            frees: self.frees,
            temporary: self.temporary,
            peak_bytes,
            peak_time_ns,
            threads: self.threads.len() as u64,
            ..RunTotals::default()
        };
        for stack in &self.totals {
            sums.allocations += stack.alloc_blocks;
            sums.bytes_allocated += stack.alloc_bytes;
            sums.leaked_blocks = sums.leaked_blocks.wrapping_add(stack.live_blocks);
            sums.leaked_bytes = sums.leaked_bytes.wrapping_add(stack.live_bytes);
        }
        end.time_ns = end.time_ns.max(self.latest_ns);
        end.dropped_events += self.unwritten;
        end.totals = Some(sums);
        if let Some(out) = self.out.as_mut() {
            // Written even after a failed write: it is small, and it tells the loss.
            let _ = out.write_end(&end);
        }
    }

    /// Runs one write; after the first failure (disk full, say) nothing more is written
    /// but the end record, and the file is cut back to its last whole block so that the
    /// end record, which says how many events were lost, can follow it.
    fn attempt(
        &mut self,
        write: impl FnOnce(&mut TraceWriter<File>) -> Result<(), FormatError>,
    ) -> bool {
        if self.error.is_some() {
            return false;
        }
        // Live mode: nothing is written, everything is counted.
        let Some(out) = self.out.as_mut() else { return true };
        match write(out) {
            Ok(()) => true,
            Err(err) => {
                self.error = Some(describe(&err));
                let whole = out.bytes_written();
                let file = out.get_mut();
                let _ = file.set_len(whole).and_then(|()| file.seek(SeekFrom::Start(whole)));
                false
            }
        }
    }
}

/// A write error with its cause, in one line.
fn describe(err: &FormatError) -> String {
    match std::error::Error::source(err) {
        Some(cause) => format!("{err}: {cause}"),
        None => err.to_string(),
    }
}
