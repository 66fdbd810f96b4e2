//! Issue 17: each class of damage, made from exact bytes, gives the exact damage at the
//! exact offset, the exact events it cost, and the exact figures recovered around it.

// Shared with replay.rs and the benchmark generator, which use what this file does not.
#[allow(dead_code)]
mod support;

use std::fs;
use std::ops::Range;
use std::path::PathBuf;

use memscope_analyze::{
    Damage, EventFilter, Moment, Peak, Recording, Snapshot, Summary, Timeline, TraceFile,
};
use memscope_format::{End, StackDef, StackId, Trace};
use support::trace_builder::{alloc, free, TraceBuilder};
use tempfile::TempDir;

const MS: u64 = 1_000_000;

/// Three segments of 100 ms. In each, thread 7 allocates 1000 bytes at 10 ms into it
/// and frees the previous segment's block at 50 ms into it; the end record at 300 ms
/// carries the totals. Blocks: 0 meta, then per segment a checkpoint, the module map,
/// the stack table and one events block (1 to 4, 5 to 8, 9 to 12), then 13 the end.
/// Live: 1000 from 10 ms, 2000 from 110 ms (the peak), 1000 from 150 ms, 2000 from 210
/// ms, 1000 from 250 ms: 3 allocations, 2 frees, 1000 bytes leaked.
fn three_segments() -> Vec<u8> {
    let mut bytes = Vec::new();
    let stacks = vec![StackDef { id: StackId(1), frames: vec![0x10] }];
    let mut builder = TraceBuilder::new(&mut bytes, stacks).unwrap();
    builder.segments_of_one_block_each(3).unwrap();
    drop(builder);
    bytes
}

/// The byte range of each block, from the reader of the intact trace.
fn blocks(bytes: &[u8]) -> Vec<Range<usize>> {
    let trace = Trace::parse(bytes).unwrap();
    trace.blocks().iter().map(|b| b.offset as usize..b.end() as usize).collect()
}

/// What the analysis makes of `bytes`: the damage after a summary, and the summary.
fn analyse(bytes: &[u8]) -> (Vec<Damage>, Summary) {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("damaged.trace");
    fs::write(&path, bytes).unwrap();
    let file = TraceFile::open(&path).unwrap();
    let recording = Recording::open(&file).unwrap();
    let summary = Summary::compute(&recording);
    let mut damage = recording.damage();
    for place in &mut damage {
        assert_eq!(place.file, path, "damage names the file it lies in");
        place.file = PathBuf::new();
    }
    (damage, summary)
}

fn damage(offset: usize, length: usize, message: &str, events_lost: Option<u64>) -> Damage {
    Damage {
        file: PathBuf::new(),
        offset: offset as u64,
        length: length as u64,
        message: message.to_owned(),
        events_lost,
        last_read_ns: None,
        next_read_ns: None,
    }
}

/// `found`, with the times around each place set to `times`.
fn with_times(mut expected: Damage, times: (Option<u64>, Option<u64>)) -> Damage {
    (expected.last_read_ns, expected.next_read_ns) = times;
    expected
}

/// The figures: allocations, frees, bytes allocated, peak bytes and ms, bytes leaked.
fn figures(summary: &Summary) -> (u64, u64, u64, u64, f64, u64) {
    let s = summary;
    (s.allocations, s.frees, s.bytes_allocated, s.peak_bytes, s.peak_time_ms, s.leaked_bytes)
}

#[test]
fn the_intact_trace_has_no_damage() {
    let (damage, summary) = analyse(&three_segments());
    assert_eq!(damage, []);
    assert_eq!(figures(&summary), (3, 2, 3000, 2000, 110.0, 1000));
}

/// Issue 17: `peak` and `top --peak` panicked on a trace holding only its header block.
#[test]
fn a_header_only_trace_reports_zeros_and_its_cut() {
    let mut bytes = Vec::new();
    drop(TraceBuilder::new(&mut bytes, Vec::new()).unwrap());
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("header-only.trace");
    fs::write(&path, &bytes).unwrap();
    let file = TraceFile::open(&path).unwrap();
    let recording = Recording::open(&file).unwrap();
    let everything = EventFilter::everything();

    let peak = Peak::find(&recording, &everything);
    let at_peak = Snapshot::take(&recording, Moment::Peak(peak), &everything);

    assert_eq!(peak, Peak::default());
    assert!(at_peak.counts.is_empty());
    let message = format!("the trace ends at byte {} without an end record", bytes.len());
    let expected = Damage { file: path.clone(), ..damage(bytes.len(), 0, &message, None) };
    assert_eq!(recording.damage(), [expected]);
    let summary = Summary::compute(&recording);
    assert_eq!((figures(&summary), summary.complete), ((0, 0, 0, 0, 0.0, 0), false));
}

/// Issue 17: a changed kind byte on a segment start gave every figure 0 with "damage:
/// none". Now the checkpoint's block is damage; the blocks after it are read as part of
/// the segment before, so no event is lost and every figure is right.
#[test]
fn a_changed_kind_byte_costs_its_block_and_no_events() {
    let mut bytes = three_segments();
    let blocks = blocks(&bytes);
    bytes[blocks[5].start + 4] = 4;
    let (found, summary) = analyse(&bytes);
    let message = format!("no valid block header at byte {}", blocks[5].start);
    let expected = damage(blocks[5].start, blocks[5].len(), &message, Some(0));
    assert_eq!(found, [with_times(expected, (Some(10 * MS), Some(100 * MS)))]);
    assert_eq!(figures(&summary), (3, 2, 3000, 2000, 110.0, 1000));
}

/// Issue 17: a dropped block went unnoticed and changed every figure.
#[test]
fn a_dropped_block_is_named_and_its_events_counted() {
    let bytes = three_segments();
    let blocks = blocks(&bytes);
    let dropped = [&bytes[..blocks[8].start], &bytes[blocks[8].end..]].concat();
    let (found, summary) = analyse(&dropped);
    let message = format!("block #8 is missing before byte {}", blocks[8].start);
    let expected = damage(blocks[8].start, 0, &message, Some(2));
    assert_eq!(found, [with_times(expected, (Some(100 * MS), Some(200 * MS)))]);
    assert_eq!(figures(&summary), (3, 2, 3000, 2000, 210.0, 1000));
}

/// Issue 17: a duplicated block doubled its events silently. It is ignored, and named.
#[test]
fn a_duplicated_block_is_ignored_and_named() {
    let bytes = three_segments();
    let blocks = blocks(&bytes);
    let events = &bytes[blocks[8].clone()];
    let repeated = [&bytes[..blocks[9].start], events, &bytes[blocks[9].start..]].concat();
    let (found, summary) = analyse(&repeated);
    let at = blocks[9].start;
    let message =
        format!("block #8 at byte {at} repeats the block at byte {}; ignored", blocks[8].start);
    let expected = damage(at, blocks[8].len(), &message, Some(0));
    assert_eq!(found, [with_times(expected, (Some(150 * MS), Some(200 * MS)))]);
    assert_eq!(figures(&summary), (3, 2, 3000, 2000, 110.0, 1000));
}

/// Issue 17: a cut at a block boundary was reported by `summary` only.
#[test]
fn a_cut_at_a_block_boundary_keeps_every_event() {
    let bytes = three_segments();
    let blocks = blocks(&bytes);
    let cut = blocks[13].start;
    let (found, summary) = analyse(&bytes[..cut]);
    let message = format!("the trace ends at byte {cut} without an end record");
    assert_eq!(found, [with_times(damage(cut, 0, &message, None), (Some(250 * MS), None))]);
    assert_eq!(figures(&summary), (3, 2, 3000, 2000, 110.0, 1000));
    assert!(!summary.complete);
}

/// Issue 17: one change at a trace's middle lost everything after it, and the warning
/// counted the events after the damage as recovered before it. Now the later segment is
/// read, the lost events are counted exactly, and the end record still gives its totals.
#[test]
fn damage_mid_file_loses_only_what_it_covers() {
    let mut bytes = three_segments();
    let blocks = blocks(&bytes);
    // Segment 1's stack table and events: both blocks are overwritten.
    bytes[blocks[7].start + 2..blocks[8].end - 3].fill(0);
    let (found, summary) = analyse(&bytes);
    let message = format!("no valid block header at byte {}", blocks[7].start);
    let length = blocks[9].start - blocks[7].start;
    let expected = damage(blocks[7].start, length, &message, Some(2));
    assert_eq!(found, [with_times(expected, (Some(100 * MS), Some(200 * MS)))]);
    assert_eq!(figures(&summary), (3, 2, 3000, 2000, 210.0, 1000));
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("mid.trace");
    fs::write(&path, &bytes).unwrap();
    let file = TraceFile::open(&path).unwrap();
    let recording = Recording::open(&file).unwrap();
    assert_eq!(Summary::from_recorder(&recording).map(|s| s.allocations), Some(3));
    // Segment 2 starts from its checkpoint: 1000 live, then 2000, then 1000.
    let everything = EventFilter::everything();
    let timeline = Timeline::build(&recording, 100 * MS, &everything).unwrap();
    let highs: Vec<(i64, u64)> = timeline.rows.iter().map(|r| (r.bytes, r.high_ns / MS)).collect();
    assert_eq!(highs, [(1000, 10), (1000, 100), (2000, 210)]);
}

/// An end record whose totals count an event the blocks do not hold, with nothing
/// damaged: the disagreement is the damage.
#[test]
fn an_end_record_that_disagrees_with_the_events_is_damage() {
    let mut bytes = Vec::new();
    let mut builder = TraceBuilder::new(&mut bytes, Vec::new()).unwrap();
    builder.segment(0).unwrap();
    builder.events(7, &[alloc(MS, 64, 1), alloc(2 * MS, 64, 1)]).unwrap();
    let mut totals = builder.totals();
    totals.allocations += 1;
    builder.finish_with(End { time_ns: 3 * MS, totals: Some(totals), ..End::default() }).unwrap();
    drop(builder);
    let end = blocks(&bytes)[5].start;
    let (found, _) = analyse(&bytes);
    let message =
        format!("the end record at byte {end} counts 1 event more than the blocks before it hold");
    assert_eq!(
        found,
        [with_times(damage(end, 0, &message, Some(1)), (Some(2 * MS), Some(3 * MS)))]
    );
}

/// An end record whose byte total disagrees, though it counts the same events.
#[test]
fn an_end_record_whose_figures_disagree_is_damage() {
    let mut bytes = Vec::new();
    let mut builder = TraceBuilder::new(&mut bytes, Vec::new()).unwrap();
    builder.segment(0).unwrap();
    builder.events(7, &[alloc(MS, 64, 1)]).unwrap();
    let mut totals = builder.totals();
    totals.bytes_allocated = 65;
    builder.finish_with(End { time_ns: 3 * MS, totals: Some(totals), ..End::default() }).unwrap();
    drop(builder);
    let end = blocks(&bytes)[5].start;
    let (found, _) = analyse(&bytes);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0].message,
        format!("the end record at byte {end} disagrees with the events: bytes allocated 65 recorded, 64 read")
    );
    assert_eq!(found[0].events_lost, Some(0));
}

/// An event later than the next checkpoint cannot have been written before it: its
/// block is damage, and the checkpoint counts the events it held.
#[test]
fn an_event_after_the_next_checkpoint_is_damage() {
    let mut bytes = Vec::new();
    let mut builder = TraceBuilder::new(&mut bytes, Vec::new()).unwrap();
    builder.segment(0).unwrap();
    builder.events(7, &[alloc(MS, 64, 1), alloc(150 * MS, 64, 1)]).unwrap();
    builder.segment(100 * MS).unwrap();
    builder.events(7, &[alloc(160 * MS, 64, 1)]).unwrap();
    builder.finish(200 * MS).unwrap();
    drop(builder);
    let events = blocks(&bytes)[4].clone();
    let (found, summary) = analyse(&bytes);
    let message = format!(
        "block at byte {} is corrupt: time 150000000 is beyond the limit of 100000000",
        events.start
    );
    let expected = damage(events.start, events.len(), &message, Some(2));
    assert_eq!(found, [with_times(expected, (Some(0), Some(100 * MS)))]);
    assert_eq!((summary.allocations, summary.peak_bytes, summary.peak_time_ms), (3, 192, 160.0));
}

/// Issue 17: sizes that summed past 2^64 wrapped silently. They are capped, and said.
#[test]
fn sizes_summing_past_2_to_the_64_are_capped_with_a_warning() {
    let mut bytes = Vec::new();
    let mut builder = TraceBuilder::new(&mut bytes, Vec::new()).unwrap();
    builder.segment(0).unwrap();
    let huge: Vec<_> = (0..300).map(|i| alloc(i * 1000, 1 << 56, 1)).collect();
    builder.events(7, &huge).unwrap();
    drop(builder);
    let len = bytes.len();
    let (found, summary) = analyse(&bytes);
    let messages: Vec<&str> = found.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            &format!("the trace ends at byte {len} without an end record"),
            "the live heap reaches 9223372036854775807 bytes, more than an address space holds",
            "sums of sizes run past 2^63 bytes; the figures are capped",
        ]
    );
    assert_eq!((summary.allocations, summary.bytes_allocated), (300, i64::MAX as u64));
}

/// Issue 17: frees without allocations gave `peak_bytes: 9223372036854775596`. A free
/// of a size no block can have is damage; frees of blocks never allocated leave the
/// peak at 0, and are said.
#[test]
fn frees_without_allocations_give_no_absurd_peak() {
    let mut bytes = Vec::new();
    let mut builder = TraceBuilder::new(&mut bytes, Vec::new()).unwrap();
    builder.segment(0).unwrap();
    builder.events(7, &[free(MS, 100, 1), free(2 * MS, 200, 1)]).unwrap();
    builder.events(8, &[free(3 * MS, (1 << 63) + 212, 1)]).unwrap();
    builder.finish(4 * MS).unwrap();
    drop(builder);
    let blocks = blocks(&bytes);
    let (found, summary) = analyse(&bytes);
    let huge = format!(
        "block at byte {} is corrupt: size 9223372036854776020 is beyond the limit of 72057594037927936",
        blocks[5].start
    );
    let messages: Vec<(&str, Option<u64>)> =
        found.iter().map(|d| (d.message.as_str(), d.events_lost)).collect();
    assert_eq!(
        messages,
        [
            (huge.as_str(), Some(1)),
            ("the trace frees 2 blocks (300 bytes) more than it allocates", Some(0))
        ]
    );
    assert_eq!(figures(&summary), (0, 2, 0, 0, 0.0, 0));
}

/// Stack tables of highly compressible frames: five batches of 4000 stacks of 1024
/// frames each, a few hundred KB of file. What is kept is bounded by the file's size (16 Mi frames
/// for a small file): the fifth block's stacks are not read, and that is said.
#[test]
fn stack_tables_beyond_what_the_file_allows_are_not_kept() {
    let mut bytes = Vec::new();
    let mut writer = memscope_format::TraceWriter::new(&mut bytes, &Default::default(), 3).unwrap();
    writer.write_segment_start(&Default::default()).unwrap();
    for batch in 0..5u32 {
        let defs: Vec<StackDef> = (0..4000)
            .map(|i| StackDef { id: StackId(batch * 4000 + i + 1), frames: vec![0x40; 1024] })
            .collect();
        writer.write_stacks(&defs).unwrap();
    }
    writer.write_end(&End::default()).unwrap();
    drop(writer);
    assert!(bytes.len() < 400_000, "{} bytes", bytes.len());
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("stacks.trace");
    fs::write(&path, &bytes).unwrap();
    let file = TraceFile::open(&path).unwrap();
    let recording = Recording::open(&file).unwrap();
    let kept: usize = recording.stacks().values().map(Vec::len).sum();
    assert!(kept <= 1 << 24, "{kept} frames kept");
    let damage = recording.damage();
    let first_refused = damage.first().map(|d| d.offset).unwrap_or_default();
    let refused: Vec<&Damage> = damage
        .iter()
        .filter(|d| d.message.starts_with("the stack tables define more than 16777216 frames"))
        .collect();
    assert_eq!(refused.len(), damage.len(), "{damage:?}");
    // The writer puts 256 stacks of 1024 frames in a block: each batch of 4000 is 15
    // such blocks and one of 160. Four batches and one block of the fifth fit in 2^24
    // frames; the fifth batch's other 15 blocks do not.
    assert_eq!(kept, (4 * 4000 + 256) * 1024);
    assert_eq!(refused.len(), 15);
    assert!(first_refused > 0 && refused.iter().all(|d| d.events_lost == Some(0)));
}

/// Two damaged stretches that touch, a block whose checksum fails and the unreadable
/// bytes after it, are one place, whose events are counted together.
#[test]
fn touching_damage_is_one_place() {
    let mut bytes = three_segments();
    let blocks = blocks(&bytes);
    bytes[blocks[7].end - 1] ^= 0x01;
    bytes[blocks[8].start + 4] ^= 0x01;
    let (found, summary) = analyse(&bytes);
    let message = format!(
        "checksum mismatch in block at byte {}, then no valid block header at byte {}",
        blocks[7].start, blocks[8].start
    );
    let length = blocks[9].start - blocks[7].start;
    let expected = damage(blocks[7].start, length, &message, Some(2));
    assert_eq!(found, [with_times(expected, (Some(100 * MS), Some(200 * MS)))]);
    assert_eq!(figures(&summary), (3, 2, 3000, 2000, 210.0, 1000));
}
