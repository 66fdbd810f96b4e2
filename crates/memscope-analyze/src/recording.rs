//! An opened trace: everything but the events, read up front, and the events left in
//! place to be decoded by whichever query needs them.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use memscope_format::{
    BlockKind, End, Event, EventReader, FormatError, Meta, Module, Record, RssSample, SegmentStart,
    StackId, Trace,
};
use rayon::prelude::*;

use crate::block_heads::{read_head, read_heads, BlockHead};
use crate::error::AnalyzeError;
use crate::trace_file::TraceFile;

/// A trace opened for analysis.
///
/// Opening reads the small blocks of every segment (checkpoints, module maps, stack
/// tables, RSS samples, the end record) in parallel, but no events: queries decode only
/// the segments they need, so a question about one moment reads one segment.
///
/// Time is split into one *window* per segment: from just after the segment's start
/// stamp to the next one's stamp. The recorder stamps a segment when it opens it, after
/// every event written before it happened, so the events of a window lie in its segment
/// or, written late by a busy thread, in the segments after it; never before.
pub struct Recording<'a> {
    file: &'a TraceFile,
    trace: Trace<'a>,
    meta: Meta,
    segments: Vec<Segment>,
    stacks: HashMap<StackId, Vec<u64>>,
    modules: Vec<Module>,
    rss: Vec<RssSample>,
    end: Option<End>,
    damage: Mutex<Option<Problem>>,
    end_ns: OnceLock<u64>,
}

/// One readable segment.
pub(crate) struct Segment {
    /// Its checkpoint block (decoded when needed: it has a line per stack).
    start_block: usize,
    /// When it was opened, nanoseconds.
    pub stamp_ns: u64,
    /// Where its window starts: just after the start stamp (0 for the first segment),
    /// never before an earlier segment's window.
    pub window_start: u64,
    /// Indexes (into the trace's blocks) of its events blocks.
    pub events: Vec<usize>,
    heads: OnceLock<Vec<BlockHead>>,
}

/// Where a damaged trace stops being readable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// What is wrong, with its byte offset.
    pub message: String,
    /// Events in the blocks before it.
    pub events_recovered: u64,
}

/// What one segment's small blocks say.
#[derive(Default)]
struct SegmentRead {
    /// The checkpoint's block and time.
    start: Option<(usize, u64)>,
    events: Vec<usize>,
    modules: Vec<Module>,
    rss: Vec<RssSample>,
    end: Option<End>,
    damage: Option<FormatError>,
}

impl<'a> Recording<'a> {
    /// Indexes `file` and reads everything but its events. Fails only when nothing is
    /// readable; damage further in is reported by [`Recording::damage`].
    pub fn open(file: &'a TraceFile) -> Result<Recording<'a>, AnalyzeError> {
        let format_error = |source| AnalyzeError::Format { path: file.path().to_owned(), source };
        let trace = file.trace()?;
        let meta = trace.meta().map_err(format_error)?;
        // Every segment repeats the stack table: they are gathered into one table per
        // worker as segments are read, never held once per segment.
        let (reads, stacks) = (0..trace.segments().len())
            .into_par_iter()
            .fold(
                || (Vec::new(), HashMap::new()),
                |(mut reads, mut stacks), i| {
                    reads.push((i, read_segment(&trace, i, &mut stacks)));
                    (reads, stacks)
                },
            )
            .reduce(
                || (Vec::new(), HashMap::new()),
                |(mut reads, mut stacks), (more, more_stacks)| {
                    reads.extend(more);
                    stacks.extend(more_stacks);
                    (reads, stacks)
                },
            );
        let mut reads: Vec<(usize, SegmentRead)> = reads;
        reads.sort_by_key(|(i, _)| *i);
        let index_damage = trace.damage().map(Problem::from);
        let mut recording = Recording {
            file,
            trace,
            meta,
            segments: Vec::new(),
            stacks,
            modules: Vec::new(),
            rss: Vec::new(),
            end: None,
            damage: Mutex::new(index_damage),
            end_ns: OnceLock::new(),
        };
        for (_, mut read) in reads {
            let cut = read.damage.take();
            recording.take(read);
            // A segment that does not decode hides everything after it.
            if let Some(err) = cut {
                recording.note_damage(&err);
                break;
            }
        }
        Ok(recording)
    }

    fn take(&mut self, read: SegmentRead) {
        let Some((start_block, stamp_ns)) = read.start else { return };
        let after_stamp = stamp_ns.saturating_add(1);
        let window_start = self.segments.last().map_or(0, |s| s.window_start.max(after_stamp));
        self.segments.push(Segment {
            start_block,
            stamp_ns,
            window_start,
            events: read.events,
            heads: OnceLock::new(),
        });
        for module in read.modules {
            if !self
                .modules
                .iter()
                .any(|m| m.path == module.path && m.load_bias == module.load_bias)
            {
                self.modules.push(module);
            }
        }
        self.rss.extend(read.rss);
        self.end = read.end.or(self.end.take());
    }

    /// The trace file's path.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Who was recorded, and how.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// Stack id → return addresses, innermost first.
    pub fn stacks(&self) -> &HashMap<StackId, Vec<u64>> {
        &self.stacks
    }

    /// Every module the recorder saw.
    pub fn modules(&self) -> &[Module] {
        &self.modules
    }

    /// Resident memory samples, oldest first.
    pub fn rss(&self) -> &[RssSample] {
        &self.rss
    }

    /// The end record, if the recording finished cleanly.
    pub fn end(&self) -> Option<&End> {
        self.end.as_ref()
    }

    /// When the recording ends, in nanoseconds: the end record's time or, for a trace cut
    /// off, the last event or RSS sample.
    pub fn end_ns(&self) -> u64 {
        *self.end_ns.get_or_init(|| match &self.end {
            Some(end) => end.time_ns,
            None => self.last_seen_ns(),
        })
    }

    fn last_seen_ns(&self) -> u64 {
        let last_rss = self.rss.iter().map(|s| s.time_ns).max().unwrap_or(0);
        let Some(last) = self.segments.last() else { return last_rss };
        let last_event = last
            .events
            .par_iter()
            .filter_map(|&block| self.events(block))
            .map(|reader| reader.map_while(Result::ok).map(|e| e.time_ns).max().unwrap_or(0))
            .max()
            .unwrap_or(0);
        last_rss.max(last_event).max(last.stamp_ns)
    }

    /// The first problem found so far: damage seen on opening, or an events block that
    /// failed to decode during a query.
    pub fn damage(&self) -> Option<Damage> {
        let message = self.lock_damage().as_ref()?.message.clone();
        Some(Damage { message, events_recovered: self.events_recovered() })
    }

    /// Events in the readable blocks (decompresses every events block: only asked for
    /// when something is wrong).
    fn events_recovered(&self) -> u64 {
        (0..self.segments.len())
            .into_par_iter()
            .map(|segment| self.heads(segment).iter().map(|h| h.events as u64).sum::<u64>())
            .sum()
    }

    fn lock_damage(&self) -> MutexGuard<'_, Option<Problem>> {
        self.damage.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps the problem found earliest in the file.
    pub(crate) fn note_damage(&self, error: &FormatError) {
        let mut damage = self.lock_damage();
        if damage.as_ref().is_none_or(|known| error.offset() < known.offset) {
            *damage = Some(Problem::from(error));
        }
    }

    /// The readable segments.
    pub(crate) fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The segment whose window holds `time_ns`.
    pub(crate) fn segment_at(&self, time_ns: u64) -> usize {
        self.segments.partition_point(|s| s.window_start <= time_ns).saturating_sub(1)
    }

    /// Where the window of `segment` ends (exclusive).
    pub(crate) fn window_end(&self, segment: usize) -> u64 {
        self.segments.get(segment + 1).map_or(u64::MAX, |s| s.window_start)
    }

    /// The heads of a segment's events blocks, read once.
    pub(crate) fn heads(&self, segment: usize) -> &[BlockHead] {
        self.segments[segment].heads.get_or_init(|| read_heads(self, segment))
    }

    /// Reads the heads of every segment's events blocks at once, all blocks in parallel,
    /// for queries that replay every segment.
    pub(crate) fn read_all_heads(&self) {
        let all: Vec<(usize, usize)> = (0..self.segments.len())
            .filter(|&segment| self.segments[segment].heads.get().is_none())
            .flat_map(|segment| {
                self.segments[segment].events.iter().map(move |&block| (segment, block))
            })
            .collect();
        let heads: Vec<BlockHead> = all
            .par_iter()
            .filter_map(|&(segment, block)| read_head(self, segment, block))
            .collect();
        let mut by_segment: Vec<Vec<BlockHead>> = vec![Vec::new(); self.segments.len()];
        heads.into_iter().for_each(|head| by_segment[head.segment].push(head));
        for (segment, heads) in self.segments.iter().zip(by_segment) {
            let _ = segment.heads.set(heads);
        }
    }

    /// The checkpoint that opens `segment`, or `None` (and the damage noted) if it no
    /// longer decodes.
    pub(crate) fn checkpoint(&self, segment: usize) -> Option<SegmentStart> {
        let block = self.trace.blocks()[self.segments[segment].start_block];
        match self.trace.decode_block(&block) {
            Ok(Record::SegmentStart(start)) => Some(start),
            Ok(_) => None,
            Err(err) => {
                self.note_damage(&err);
                None
            }
        }
    }

    /// A reader for one events block, or `None` (and the damage noted) if it does not
    /// decode.
    pub(crate) fn events(&self, block: usize) -> Option<EventReader> {
        let block = self.trace.blocks()[block];
        // A read fails if the file shrank since it was indexed: the block is cut short.
        let payload = self
            .file
            .read_payload(&block)
            .map_err(|_| FormatError::Truncated { offset: block.offset });
        let reader = payload.and_then(|payload| EventReader::from_compressed(&block, &payload));
        reader.map_err(|err| self.note_damage(&err)).ok()
    }

    /// One events block's events, all decoded.
    pub(crate) fn event_batch(&self, block: usize) -> Option<Vec<Event>> {
        let events: Result<Vec<Event>, FormatError> = self.events(block)?.collect();
        events.map_err(|err| self.note_damage(&err)).ok()
    }
}

/// Reads one segment's small blocks, adding its stack definitions to `stacks`.
fn read_segment(
    trace: &Trace,
    segment: usize,
    stacks: &mut HashMap<StackId, Vec<u64>>,
) -> SegmentRead {
    let mut read = SegmentRead::default();
    for index in trace.segments()[segment].clone() {
        let block = trace.blocks()[index];
        if block.kind == BlockKind::Events {
            read.events.push(index);
            continue;
        }
        match trace.decode_block(&block) {
            Ok(Record::Stacks(defs)) => stacks.extend(defs.into_iter().map(|d| (d.id, d.frames))),
            Ok(Record::SegmentStart(start)) => read.start = Some((index, start.time_ns)),
            Ok(record) => take_record(&mut read, record),
            Err(err) => {
                read.damage = Some(err);
                break;
            }
        }
    }
    read
}

fn take_record(read: &mut SegmentRead, record: Record) {
    match record {
        Record::Modules(map) => read.modules = map.modules,
        Record::Rss(samples) => read.rss.extend(samples),
        Record::End(end) => read.end = Some(end),
        Record::SegmentStart(_) | Record::Stacks(_) | Record::Events(_) | Record::Meta(_) => {}
    }
}

/// A problem found in the trace: where, and what.
struct Problem {
    offset: Option<u64>,
    message: String,
}

impl From<&FormatError> for Problem {
    fn from(error: &FormatError) -> Self {
        Problem { offset: error.offset(), message: error.to_string() }
    }
}
