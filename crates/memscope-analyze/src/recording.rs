//! An opened trace: everything but the events, read up front, and the events left in
//! place to be decoded by whichever query needs them.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;

use memscope_format::{
    BlockKind, DecodeError, End, Event, EventBatch, EventReader, FormatError, Meta, Module, Record,
    RssSample, SegmentStart, StackDef, StackId, ThreadId, VERSION,
};
use rayon::prelude::*;

use crate::block_heads::{read_head, read_heads, BlockHead};
use crate::error::AnalyzeError;
use crate::problems::{Loss, Problem, Problems};
use crate::sampling::Sampling;
use crate::trace_file::TraceFile;
use crate::trace_parts::TraceParts;

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
///
/// Damage does not stop the reading: every intact block is used, and what could not be
/// read is listed by [`Recording::damage`], with the events it held where the
/// checkpoints around it tell.
pub struct Recording<'a> {
    trace: TraceParts<'a>,
    meta: Meta,
    segments: Vec<Segment>,
    stacks: HashMap<StackId, Vec<u64>>,
    modules: Vec<Module>,
    rss: Vec<RssSample>,
    end: Option<End>,
    problems: Problems,
    all_heads_read: AtomicBool,
    end_ns: OnceLock<u64>,
    covers_from: Option<u64>,
}

/// One readable segment.
pub(crate) struct Segment {
    /// Its checkpoint block (decoded when needed: it has a line per stack).
    pub start_block: usize,
    /// When it was opened, nanoseconds.
    pub stamp_ns: u64,
    /// Where its window starts: just after the start stamp (0 for the first segment;
    /// the stamp itself for the first of a recording that starts at a checkpoint),
    /// never before an earlier segment's window.
    pub window_start: u64,
    /// Indexes (into the trace's blocks) of its events blocks.
    pub events: Vec<usize>,
    /// No event of the segment may be later than this: the next segment's stamp or the
    /// end record's time (format version 4 on, whose recorder guarantees it).
    pub latest_ns: u64,
    heads: OnceLock<Vec<BlockHead>>,
}

/// What one segment's small blocks say.
#[derive(Default)]
struct SegmentRead {
    /// The checkpoint's block, time and segment number.
    start: Option<(usize, u64, u64)>,
    events: Vec<usize>,
    modules: Vec<Module>,
    rss: Vec<RssSample>,
    problems: Vec<Problem>,
}

impl<'a> Recording<'a> {
    /// Indexes `file` and reads everything but its events. Fails only when nothing is
    /// readable; damage further in is reported by [`Recording::damage`].
    pub fn open(file: &'a TraceFile) -> Result<Recording<'a>, AnalyzeError> {
        Recording::open_series(std::slice::from_ref(file))
    }

    /// [`Recording::open`] for the files of a rotated series, oldest first, read as one
    /// recording: each file is indexed on its own thread.
    pub fn open_series(files: &'a [TraceFile]) -> Result<Recording<'a>, AnalyzeError> {
        let trace = TraceParts::index(files)?;
        let format_error =
            |source| AnalyzeError::Format { path: trace.first_path().to_owned(), source };
        let problems = Problems::default();
        trace.damage().iter().for_each(|problem| problems.note(problem.clone()));
        let meta = match trace.meta() {
            Ok(meta) => meta,
            Err(_) if trace.blocks().len() > 1 => {
                if trace.blocks().first().is_some_and(|b| b.kind == BlockKind::Meta) {
                    if let Err(err) = trace.decode(0) {
                        problems.note(Problem::of_block(&trace.blocks()[0], &err));
                    }
                }
                Meta::default()
            }
            Err(err) => return Err(format_error(trace.first_damage().unwrap_or(err))),
        };
        orphans(&trace).into_iter().for_each(|orphans| problems.note(orphans));
        let (reads, stacks) = read_segments(&trace, &meta);
        let end = final_end(&trace);
        let mut recording = Recording {
            trace,
            meta,
            segments: Vec::new(),
            stacks,
            modules: Vec::new(),
            rss: Vec::new(),
            end,
            problems,
            all_heads_read: AtomicBool::new(false),
            end_ns: OnceLock::new(),
            covers_from: None,
        };
        for read in reads {
            recording.take(read);
        }
        recording.set_time_limits();
        Ok(recording)
    }

    fn take(&mut self, read: SegmentRead) {
        read.problems.into_iter().for_each(|problem| self.problems.note(problem));
        self.rss.extend(read.rss);
        for module in read.modules {
            if !self
                .modules
                .iter()
                .any(|m| m.path == module.path && m.load_bias == module.load_bias)
            {
                self.modules.push(module);
            }
        }
        let Some((start_block, stamp_ns, number)) = read.start else { return };
        if self.segments.is_empty() && number > 0 && !self.damaged_before(start_block) {
            // The older files of a rotated series are gone: the recording starts from
            // this checkpoint, and holds the time after it.
            self.covers_from = Some(stamp_ns);
        }
        let after_stamp = stamp_ns.saturating_add(1);
        // A recording that starts at a checkpoint has no earlier segment whose blocks
        // hold events of the stamp's own tick: its first window starts at the stamp.
        let window_start = match self.segments.last() {
            Some(last) => last.window_start.max(after_stamp),
            None if self.covers_from.is_some() => stamp_ns,
            None => 0,
        };
        self.segments.push(Segment {
            start_block,
            stamp_ns,
            window_start,
            events: read.events,
            latest_ns: memscope_format::MAX_TIME_NS,
            heads: OnceLock::new(),
        });
    }

    /// Whether damage that may have cost events lies before block `block`.
    fn damaged_before(&self, block: usize) -> bool {
        let offset = self.trace.blocks()[block].offset;
        self.problems.all().iter().any(|p| p.offset < offset && p.loss == Loss::Events)
    }

    /// Where what the recording holds starts: `None` if it holds the run from its start;
    /// the time of its first checkpoint (nanoseconds) if it starts later, as a rotated
    /// series does once its oldest files are deleted. The state at that checkpoint is
    /// known (it carries every stack's totals), the events before it are not.
    pub fn covers_from_ns(&self) -> Option<u64> {
        self.covers_from
    }

    /// Bounds each segment's event times by the next stamp (or the end record), where
    /// the format guarantees it.
    fn set_time_limits(&mut self) {
        if self.trace.version() < VERSION {
            return;
        }
        let end_ns = self.end.as_ref().map(|end| end.time_ns);
        let stamps: Vec<Option<u64>> =
            self.segments.iter().skip(1).map(|s| Some(s.stamp_ns)).collect();
        for (segment, limit) in self.segments.iter_mut().zip(stamps.into_iter().chain([end_ns])) {
            if let Some(limit) = limit {
                segment.latest_ns = limit;
            }
        }
    }

    /// The trace file's path (a series': its oldest file read).
    pub fn path(&self) -> &Path {
        self.trace.first_path()
    }

    /// Who was recorded, and how (all empty if the meta block was lost).
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// How the recorder sampled, if it did: queries then give estimates.
    pub fn sampling(&self) -> Option<Sampling> {
        Sampling::of_rate(self.meta.sample_rate)
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

    /// The end record, if the recording finished cleanly: the last block is one.
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
        let Some(last) = self.segments.len().checked_sub(1) else { return last_rss };
        let last_event = self.segments[last]
            .events
            .par_iter()
            .filter_map(|&block| self.event_batch(last, block))
            .map(|batch| batch.events.iter().map(|e| e.time_ns).max().unwrap_or(0))
            .max()
            .unwrap_or(0);
        last_rss.max(last_event).max(self.segments[last].stamp_ns)
    }

    /// Every problem noted so far.
    pub(crate) fn problems(&self) -> Vec<Problem> {
        self.problems.all()
    }

    /// The most events a replay may hold decoded at once: 16 Mi events (384 MiB), or 4
    /// per byte of the file for a larger one. The recorder's blocks overlap in time
    /// about one per thread, far below this; only a crafted trace reaches it.
    pub(crate) fn events_budget(&self) -> usize {
        usize::try_from(self.trace.len().saturating_mul(4)).unwrap_or(usize::MAX).max(1 << 24)
    }

    /// Notes that block `block` could not be replayed: too many blocks overlap it.
    pub(crate) fn note_overlap(&self, block: usize) {
        let budget = self.events_budget();
        let block = self.trace.blocks()[block];
        let message = format!(
            "block at byte {} overlaps in time more blocks than {budget} events can hold; not read",
            self.trace.local_offset(block.offset)
        );
        let (offset, length) = (block.offset, block.end() - block.offset);
        self.problems.note(Problem { offset, length, message, loss: Loss::Events });
    }

    /// Whether a query read every events block's head (so counts can be checked).
    pub(crate) fn all_heads_were_read(&self) -> bool {
        self.all_heads_read.load(Ordering::Acquire)
    }

    /// Notes a problem found by a query, such as totals that disagree with the events.
    pub(crate) fn note(&self, problem: Problem) {
        self.problems.note(problem);
    }

    /// Notes that block `block` does not decode.
    pub(crate) fn note_block(&self, block: usize, error: &FormatError) {
        self.problems.note(Problem::of_block(&self.trace.blocks()[block], error));
    }

    /// The trace's files, read as one.
    pub(crate) fn trace(&self) -> &TraceParts<'a> {
        &self.trace
    }

    /// Whether block `block` is used: it is the meta block, or lies in a segment whose
    /// checkpoint was read (blocks after a lost checkpoint, up to the next, are not).
    pub(crate) fn is_used(&self, block: usize) -> bool {
        let Some(segment) = self.trace.segments().iter().position(|range| range.contains(&block))
        else {
            return self.trace.is_meta(block);
        };
        let start = self.trace.segments()[segment].start;
        self.segments.iter().any(|s| s.start_block == start)
    }

    /// The readable segments.
    pub(crate) fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The segment whose window holds `time_ns`, if there is any segment.
    pub(crate) fn segment_at(&self, time_ns: u64) -> Option<usize> {
        let segment = self.segments.partition_point(|s| s.window_start <= time_ns).checked_sub(1);
        // A recording that starts at a checkpoint knows no state before it: a moment
        // before its first window (up to its stamp) is the first segment's.
        segment.or_else(|| self.covers_from.filter(|_| !self.segments.is_empty()).map(|_| 0))
    }

    /// Where the window of `segment` ends (exclusive).
    pub(crate) fn window_end(&self, segment: usize) -> u64 {
        self.segments.get(segment + 1).map_or(u64::MAX, |s| s.window_start)
    }

    /// The threads that made events in the readable segments.
    pub fn threads(&self) -> BTreeSet<ThreadId> {
        (0..self.segments.len())
            .flat_map(|segment| self.heads(segment).iter().map(|head| head.thread))
            .collect()
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
        self.all_heads_read.store(true, Ordering::Release);
    }

    /// The checkpoint that opens `segment`, or `None` (and the damage noted) if it no
    /// longer decodes.
    pub(crate) fn checkpoint(&self, segment: usize) -> Option<SegmentStart> {
        self.checkpoint_at(self.segments[segment].start_block)
    }

    /// The checkpoint in block `block`, or `None` (and the damage noted).
    pub(crate) fn checkpoint_at(&self, block: usize) -> Option<SegmentStart> {
        match self.trace.decode(block) {
            Ok(Record::SegmentStart(start)) => Some(start),
            Ok(_) => None,
            Err(err) => {
                self.note_block(block, &err);
                None
            }
        }
    }

    /// A reader for one events block, or `None` (and the damage noted) if it does not
    /// decode.
    pub(crate) fn events(&self, block: usize) -> Option<EventReader> {
        self.trace.events(block).map_err(|err| self.note_block(block, &err)).ok()
    }

    /// One events block of `segment`, all decoded, or `None` (and the damage noted) if
    /// any of it does not decode or any event is later than the segment allows: a block
    /// is used whole or not at all, so what a query counts is what the damage report
    /// says was read.
    pub(crate) fn event_batch(&self, segment: usize, block: usize) -> Option<EventBatch> {
        let reader = self.events(block)?;
        let thread = reader.thread();
        let events: Result<Vec<Event>, FormatError> = reader.collect();
        let events = events.map_err(|err| self.note_block(block, &err)).ok()?;
        let latest = self.segments[segment].latest_ns;
        if let Some(late) = events.iter().find(|event| event.time_ns > latest) {
            let source = DecodeError::OutOfRange { what: "time", value: late.time_ns, max: latest };
            let offset = self.trace.local_offset(self.trace.blocks()[block].offset);
            self.note_block(block, &FormatError::Decode { offset, source });
            return None;
        }
        Some(EventBatch { thread, events })
    }
}

/// Blocks between a file's meta block and its first checkpoint, where a recorder
/// writes none: they belong to no segment and are not read. Damage before them already
/// says so (a lost checkpoint); otherwise, in a trace without sequence numbers, they
/// are the sign of blocks moved.
fn orphans(trace: &TraceParts) -> Vec<Problem> {
    trace
        .before_first_checkpoints()
        .into_iter()
        .filter_map(|range| {
            let orphans = trace.blocks().get(range).filter(|o| !o.is_empty())?;
            let (start, end) = (orphans[0].offset, orphans[orphans.len() - 1].end());
            let file = trace.locate(start).0;
            let damaged_before =
                |d: &Problem| d.offset < start && d.length > 0 && trace.locate(d.offset).0 == file;
            if trace.damage().iter().any(damaged_before) {
                return None;
            }
            let (local_start, local_end) = (trace.local_offset(start), trace.local_offset(end));
            let message = format!(
                "blocks at bytes {local_start}..{local_end} lie before the first checkpoint; not read"
            );
            Some(Problem { offset: start, length: end - start, message, loss: Loss::Events })
        })
        .collect()
}

/// The end record, if the trace's last block is one (a recorder whose `exec` failed
/// goes on writing after an end record; the trace then ends where it was cut).
fn final_end(trace: &TraceParts) -> Option<End> {
    let last = trace.blocks().len().checked_sub(1)?;
    if trace.blocks()[last].kind != BlockKind::End {
        return None;
    }
    match trace.decode(last) {
        Ok(Record::End(end)) => Some(end),
        _ => None,
    }
}

/// Reads every segment's small blocks in parallel. Every segment repeats the stack
/// table: they are gathered into one table per worker as segments are read, never held
/// once per segment.
fn read_segments(
    trace: &TraceParts,
    meta: &Meta,
) -> (Vec<SegmentRead>, HashMap<StackId, Vec<u64>>) {
    let frames_left = AtomicUsize::new(frames_budget(trace.len()));
    let (mut reads, stacks) = (0..trace.segments().len())
        .into_par_iter()
        .fold(
            || (Vec::new(), HashMap::new()),
            |(mut reads, mut stacks), i| {
                reads.push((i, read_segment(trace, i, meta, &mut stacks, &frames_left)));
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
    reads.sort_by_key(|(i, _)| *i);
    (reads.into_iter().map(|(_, read)| read).collect(), stacks)
}

/// The most stack frames a trace of `file_len` bytes may define: 16 Mi (128 MiB), or
/// 64 per byte of a larger file. Real stack tables take bytes per stack even compressed;
/// a crafted one of highly compressible frames stops here instead of filling memory.
fn frames_budget(file_len: u64) -> usize {
    usize::try_from(file_len.saturating_mul(64)).unwrap_or(usize::MAX).max(1 << 24)
}

/// Takes the frames of `defs` that `stacks` does not hold yet out of `frames_left`, if
/// there are that many left.
fn take_frames(defs: &[StackDef], stacks: &HashMap<StackId, Vec<u64>>, left: &AtomicUsize) -> bool {
    let new: usize =
        defs.iter().filter(|d| !stacks.contains_key(&d.id)).map(|d| d.frames.len()).sum();
    left.fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| left.checked_sub(new)).is_ok()
}

/// Reads one segment's small blocks, adding its stack definitions to `stacks`. A block
/// that does not decode is noted and skipped; the blocks after it are still read.
fn read_segment(
    trace: &TraceParts,
    segment: usize,
    meta: &Meta,
    stacks: &mut HashMap<StackId, Vec<u64>>,
    frames_left: &AtomicUsize,
) -> SegmentRead {
    let mut read = SegmentRead::default();
    for index in trace.segments()[segment].clone() {
        let block = trace.blocks()[index];
        if block.kind == BlockKind::Events {
            read.events.push(index);
            continue;
        }
        let local_offset = trace.local_offset(block.offset);
        let record =
            trace.decode(index).and_then(|record| check_record(local_offset, record, meta));
        match record {
            Ok(Record::Stacks(defs)) if take_frames(&defs, stacks, frames_left) => {
                stacks.extend(defs.into_iter().map(|d| (d.id, d.frames)))
            }
            Ok(Record::Stacks(_)) => {
                let message = format!(
                    "the stack tables define more than {} frames; the stacks of block at byte {} are not read",
                    frames_budget(trace.len()),
                    local_offset
                );
                let (offset, length) = (block.offset, block.end() - block.offset);
                read.problems.push(Problem { offset, length, message, loss: Loss::Nothing });
            }
            Ok(Record::SegmentStart(start)) => {
                read.start = Some((index, start.time_ns, u64::from(start.index)))
            }
            Ok(Record::Modules(map)) => read.modules = map.modules,
            Ok(Record::Rss(samples)) => read.rss.extend(samples),
            Ok(Record::End(_) | Record::Events(_) | Record::Meta(_)) => {}
            Err(err) => read.problems.push(Problem::of_block(&block, &err)),
        }
    }
    read
}

/// A record, unless it holds what the recording says cannot be: a stack deeper than the
/// recorder kept.
fn check_record(offset: u64, record: Record, meta: &Meta) -> Result<Record, FormatError> {
    if let Record::Stacks(defs) = &record {
        if let Some(deep) = deepest_beyond(defs, meta.max_frames) {
            let max = meta.max_frames.into();
            let source = DecodeError::TooMany { what: "frames", count: deep as u64, max };
            return Err(FormatError::Decode { offset, source });
        }
    }
    Ok(record)
}

/// The frame count of the first stack deeper than `max_frames` (0: no limit known).
fn deepest_beyond(defs: &[StackDef], max_frames: u32) -> Option<usize> {
    let max = usize::try_from(max_frames).ok().filter(|&max| max > 0)?;
    defs.iter().map(|def| def.frames.len()).find(|&frames| frames > max)
}
