//! What each damaged place cost. Every checkpoint counts the events written before it,
//! and so does the end record of a complete trace: the events a damaged stretch held
//! are what the checkpoint after it counts, less what the checkpoint before it counts
//! and the events read in between. Where no damage lies between two counts and they
//! still disagree, the disagreement is damage of its own.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use memscope_format::{BlockKind, FormatError, Record};

use crate::problems::{Loss, Problem};
use crate::recording::Recording;

/// Blocks looked at on each side of a damaged place for the times around it.
const TIME_SEARCH: usize = 64;

/// One place where a trace is damaged, and what it cost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// The file concerned (one of a rotated series').
    pub file: PathBuf,
    /// The first byte concerned, in that file.
    pub offset: u64,
    /// How many bytes were skipped from there (0 for blocks missing from the file, a
    /// trace that ends without its end record, or counts that disagree).
    pub length: u64,
    /// What was found, with its byte offset.
    pub message: String,
    /// The events lost there, when the checkpoints around it tell: `None` for a trace
    /// cut off at its end, or for damage that shares its checkpoints with other damage.
    pub events_lost: Option<u64>,
    /// The time of the last record read before the damage, nanoseconds.
    pub last_read_ns: Option<u64>,
    /// The time of the first record read after it; `None` at the end of the trace.
    pub next_read_ns: Option<u64>,
}

impl Damage {
    /// Where the skipped bytes end (exclusive).
    pub fn end(&self) -> u64 {
        self.offset.saturating_add(self.length)
    }
}

/// A count of the events written before a block.
#[derive(Copy, Clone, Debug)]
struct Anchor {
    /// The block (a checkpoint or the end record); the virtual anchor at the start is 0.
    block: usize,
    /// Events written before it.
    events: u64,
}

impl Recording<'_> {
    /// Everything found wrong so far, in file order: damage seen on opening, blocks that
    /// failed to decode during a query, and counts that disagree with the checkpoints or
    /// the end record. Working out the events each lost reads every events block's head
    /// (only done when something is wrong, or when a query already read them).
    pub fn damage(&self) -> Vec<Damage> {
        let problems = self.problems();
        if problems.is_empty() && !self.all_heads_were_read() {
            return Vec::new();
        }
        self.read_all_heads();
        account(self, problems)
    }
}

/// Joins damaged stretches that touch (a block whose checksum fails, then the garbage
/// after it): they are one place, and their events are counted together.
fn join_adjacent(problems: Vec<Problem>) -> Vec<Problem> {
    let mut joined: Vec<Problem> = Vec::with_capacity(problems.len());
    for problem in problems {
        match joined.last_mut() {
            Some(last)
                if last.loss == Loss::Events
                    && problem.loss == Loss::Events
                    && problem.length > 0
                    && last.offset + last.length == problem.offset =>
            {
                last.length += problem.length;
                last.message = format!("{}, then {}", last.message, problem.message);
            }
            _ => joined.push(problem),
        }
    }
    joined
}

/// The damage `problems` describe, with the events and times each cost.
fn account(recording: &Recording, problems: Vec<Problem>) -> Vec<Damage> {
    let problems = join_adjacent(problems);
    let blocks = recording.trace().blocks();
    let bad: HashSet<u64> = problems.iter().filter(|p| p.length > 0).map(|p| p.offset).collect();
    let anchors = anchors(recording, &bad);
    let read = events_read_before(recording, &bad);
    let position = |offset: u64| blocks.partition_point(|b| b.offset < offset);
    // Which gap between anchors each problem falls in: the index of the anchor after it.
    let gap_of =
        |problem: &Problem| anchors.partition_point(|a| a.block < position(problem.offset));
    let mut losses: HashMap<usize, usize> = HashMap::new();
    for problem in problems.iter().filter(|p| p.loss == Loss::Events) {
        *losses.entry(gap_of(problem)).or_default() += 1;
    }
    let lost_in = |gap: usize| -> Option<i128> {
        let (before, after) = (anchors.get(gap.checked_sub(1)?)?, anchors.get(gap)?);
        let read_between = read[after.block] - read[before.block];
        Some(i128::from(after.events) - i128::from(before.events) - i128::from(read_between))
    };
    // Keyed by where they are among all the recording's files, to sort them.
    let mut damage: Vec<(u64, Damage)> = problems
        .iter()
        .map(|problem| {
            let events_lost = match problem.loss {
                Loss::Nothing => Some(0),
                Loss::Tail => None,
                Loss::Counted(events) => Some(events),
                Loss::Events if losses[&gap_of(problem)] == 1 => {
                    lost_in(gap_of(problem)).map(|lost| lost.max(0) as u64)
                }
                Loss::Events => None,
            };
            (problem.offset, with_times(recording, problem, events_lost, &bad))
        })
        .collect();
    if recording.all_heads_were_read() {
        damage.extend(count_mismatches(recording, &anchors, &losses, lost_in));
    }
    damage.sort_by_key(|(offset, d)| (*offset, d.length));
    damage.into_iter().map(|(_, d)| d).collect()
}

/// Checkpoints and end records that disagree with the events before them, with no
/// damage in between to explain it.
fn count_mismatches(
    recording: &Recording,
    anchors: &[Anchor],
    losses: &HashMap<usize, usize>,
    lost_in: impl Fn(usize) -> Option<i128>,
) -> Vec<(u64, Damage)> {
    let blocks = recording.trace().blocks();
    (1..anchors.len())
        .filter(|gap| !losses.contains_key(gap))
        .filter_map(|gap| {
            let missing = lost_in(gap).filter(|&lost| lost != 0)?;
            let block = blocks[anchors[gap].block];
            let what = if block.kind == BlockKind::End { "end record" } else { "checkpoint" };
            let missing = i64::try_from(missing).unwrap_or(i64::MAX);
            let offset = recording.trace().local_offset(block.offset);
            let error = FormatError::CountMismatch { offset, what, missing };
            let problem = Problem {
                offset: block.offset,
                length: 0,
                message: error.to_string(),
                loss: Loss::Counted(missing.max(0) as u64),
            };
            let events_lost = Some(missing.max(0) as u64);
            Some((problem.offset, with_times(recording, &problem, events_lost, &HashSet::new())))
        })
        .collect()
}

/// The counts: a virtual one of no events before everything (unless the recording
/// starts at a checkpoint of a rotated series), each checkpoint that decodes, and the
/// end record's totals if the trace ends with them.
fn anchors(recording: &Recording, bad: &HashSet<u64>) -> Vec<Anchor> {
    let blocks = recording.trace().blocks();
    let mut anchors = Vec::new();
    if recording.covers_from_ns().is_none() {
        anchors.push(Anchor { block: 0, events: 0 });
    }
    for (index, block) in blocks.iter().enumerate() {
        if block.kind != BlockKind::SegmentStart || bad.contains(&block.offset) {
            continue;
        }
        let Some(start) = recording.checkpoint_at(index) else { continue };
        let allocations =
            start.stacks.iter().try_fold(0u64, |sum, totals| sum.checked_add(totals.alloc_blocks));
        if let Some(events) = allocations.and_then(|a| a.checked_add(start.frees)) {
            anchors.push(Anchor { block: index, events });
        }
    }
    let totals = recording.end().and_then(|end| end.totals.as_ref());
    if let Some(events) = totals.and_then(|t| t.allocations.checked_add(t.frees)) {
        anchors.push(Anchor { block: blocks.len() - 1, events });
    }
    anchors
}

/// For each block index, the events read in the blocks before it (one more entry than
/// there are blocks). Events blocks outside any segment, or found bad, are not read.
fn events_read_before(recording: &Recording, bad: &HashSet<u64>) -> Vec<u64> {
    let blocks = recording.trace().blocks();
    let mut per_block = vec![0u64; blocks.len()];
    for segment in 0..recording.segments().len() {
        for head in recording.heads(segment) {
            if !bad.contains(&blocks[head.block].offset) {
                per_block[head.block] = head.events as u64;
            }
        }
    }
    let mut before = Vec::with_capacity(blocks.len() + 1);
    let mut sum = 0u64;
    before.push(0);
    for events in per_block {
        sum += events;
        before.push(sum);
    }
    before
}

/// `problem`, found at a virtual offset of the recording's files, as damage in its
/// file, with the times of the records read around it.
fn with_times(
    recording: &Recording,
    problem: &Problem,
    events_lost: Option<u64>,
    bad: &HashSet<u64>,
) -> Damage {
    let blocks = recording.trace().blocks();
    let before = blocks.partition_point(|b| b.offset < problem.offset);
    let after = blocks.partition_point(|b| b.offset < problem.offset + problem.length);
    let usable = |&index: &usize| !bad.contains(&blocks[index].offset) && recording.is_used(index);
    let last_read_ns = (before.saturating_sub(TIME_SEARCH)..before)
        .rev()
        .filter(usable)
        .find_map(|index| block_times(recording, index).map(|(_, last)| last));
    let next_read_ns = (after..blocks.len().min(after + TIME_SEARCH))
        .filter(usable)
        .find_map(|index| block_times(recording, index).map(|(first, _)| first));
    let (file, offset) = recording.trace().locate(problem.offset);
    Damage {
        file: file.to_owned(),
        offset,
        length: problem.length,
        message: problem.message.clone(),
        events_lost,
        last_read_ns,
        next_read_ns,
    }
}

/// The first and last times a block carries, if it carries any.
fn block_times(recording: &Recording, index: usize) -> Option<(u64, u64)> {
    let block = recording.trace().blocks()[index];
    let span = |times: &mut dyn Iterator<Item = u64>| {
        times.fold(None, |span: Option<(u64, u64)>, t| {
            Some(span.map_or((t, t), |(first, last)| (first.min(t), last.max(t))))
        })
    };
    match block.kind {
        BlockKind::Meta | BlockKind::Stacks => None,
        BlockKind::Events => {
            let reader = recording.events(index)?;
            span(&mut reader.map_while(Result::ok).map(|event| event.time_ns))
        }
        _ => match recording.trace().decode(index).ok()? {
            Record::SegmentStart(start) => Some((start.time_ns, start.time_ns)),
            Record::Modules(map) => Some((map.time_ns, map.time_ns)),
            Record::Rss(samples) => span(&mut samples.iter().map(|s| s.time_ns)),
            Record::End(end) => Some((end.time_ns, end.time_ns)),
            _ => None,
        },
    }
}
