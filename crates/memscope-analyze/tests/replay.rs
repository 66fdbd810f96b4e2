//! Queries on synthetic traces whose numbers are easy to work out by hand: interleaved
//! threads, blocks written late into the next segment, checkpoints, filters, damage.

mod support;

use std::fs;

use memscope_analyze::{
    CallEdge, CallGraph, CallTree, Diff, EventFilter, Filter, Granularity, Moment, Peak, Recording,
    SampleType, Snapshot, StackCounts, StackProfile, StackSymbols, Summary, Timeline, TimelineRow,
    Top, TraceFile,
};
use memscope_format::{StackDef, StackId, StackTotals, ThreadId};
use support::trace_builder::{alloc, free, TraceBuilder};
use tempfile::TempDir;

const MS: u64 = 1_000_000;

/// Stacks of addresses outside any module: each address symbolizes to `??+0xADDRESS`.
fn stacks() -> Vec<StackDef> {
    let stack = |id, frames: &[u64]| StackDef { id: StackId(id), frames: frames.to_vec() };
    vec![
        stack(1, &[0x10, 0x20]),
        stack(2, &[0x30, 0x20]),
        stack(3, &[0x10, 0x20, 0x10]),
        stack(4, &[0x40]),
    ]
}

/// Writes a trace with `build`, opens it, and hands the recording to `check`.
fn analyse<T>(
    build: impl FnOnce(&mut TraceBuilder<&mut Vec<u8>>),
    check: impl FnOnce(&Recording) -> T,
) -> T {
    let dir = TempDir::new().unwrap();
    let file = trace_file(&dir, build);
    check(&Recording::open(&file).unwrap())
}

/// A trace file written by `build`.
fn trace_file(dir: &TempDir, build: impl FnOnce(&mut TraceBuilder<&mut Vec<u8>>)) -> TraceFile {
    let mut bytes = Vec::new();
    let mut builder = TraceBuilder::new(&mut bytes, stacks()).unwrap();
    build(&mut builder);
    drop(builder);
    let path = dir.path().join("synthetic.trace");
    fs::write(&path, &bytes).unwrap();
    TraceFile::open(&path).unwrap()
}

fn counts(live_bytes: i64, live_blocks: i64, alloc_bytes: i64, alloc_blocks: i64) -> StackCounts {
    StackCounts { live_bytes, live_blocks, alloc_bytes, alloc_blocks }
}

/// Thread 1's block is written before thread 2's, although thread 2's events fall between
/// thread 1's: live is 100 at 10 ms, 300 at 20 ms, 100 at 30 ms, 0 at 40 ms.
fn interleaved(builder: &mut TraceBuilder<&mut Vec<u8>>) {
    builder.segment(0).unwrap();
    builder.events(1, &[alloc(10 * MS, 100, 1), free(40 * MS, 100, 1)]).unwrap();
    builder.events(2, &[alloc(20 * MS, 200, 2), free(30 * MS, 200, 2)]).unwrap();
    builder.finish(50 * MS).unwrap();
}

#[test]
fn peak_between_two_events_of_different_threads() {
    analyse(interleaved, |recording| {
        let peak = Peak::find(recording, &EventFilter::everything());

        assert_eq!(peak, Peak { time_ns: 20 * MS, bytes: 300, blocks: 2, events_at_time: 1 });
    });
}

#[test]
fn snapshot_at_the_peak_holds_both_threads_blocks() {
    analyse(interleaved, |recording| {
        let snapshot = Snapshot::take(recording, Moment::At(25 * MS), &EventFilter::everything());

        assert_eq!(snapshot.counts[&StackId(1)], counts(100, 1, 100, 1));
        assert_eq!(snapshot.counts[&StackId(2)], counts(200, 1, 200, 1));
        assert_eq!(snapshot.total().live_bytes, 300);
    });
}

#[test]
fn timeline_rows_hold_each_intervals_high_and_carry_levels_over() {
    analyse(interleaved, |recording| {
        let timeline = Timeline::build(recording, 15 * MS, &EventFilter::everything()).unwrap();

        let row = |start, bytes, blocks, high, events| TimelineRow {
            start_ns: start * MS,
            bytes,
            blocks,
            high_ns: high * MS,
            high_events_at_time: events,
            // The synthetic traces carry no RSS samples.
            rss_bytes: None,
        };
        assert_eq!(
            timeline.rows,
            [
                row(0, 100, 1, 10, 1),
                row(15, 300, 2, 20, 1),
                row(30, 100, 1, 30, 1),
                row(45, 0, 0, 45, 0)
            ],
            "the 30 ms row starts with a free at 30 ms, so 300 is not held into it"
        );
    });
}

#[test]
fn a_thread_filter_counts_only_that_threads_events() {
    analyse(interleaved, |recording| {
        let thread_2 = Filter::new(None, None, Some(ThreadId(2))).unwrap();
        let mut symbols = StackSymbols::new(recording, false);
        let filter = thread_2.resolve(&mut symbols);

        let peak = Peak::find(recording, &filter);
        let snapshot = Snapshot::take(recording, Moment::At(25 * MS), &filter);

        assert_eq!(peak, Peak { time_ns: 20 * MS, bytes: 200, blocks: 1, events_at_time: 1 });
        assert_eq!(snapshot.counts.keys().collect::<Vec<_>>(), [&StackId(2)]);
        assert_eq!(snapshot.temporary, None, "checkpoints count temporaries for all threads");
    });
}

/// Within the tick at 5 ms, thread 1 allocates and frees 1000 bytes and, in a block
/// written after thread 1's, thread 2 allocates 500; a tick later thread 1 allocates 10.
fn one_tick(builder: &mut TraceBuilder<&mut Vec<u8>>) {
    builder.segment(0).unwrap();
    builder
        .events(1, &[alloc(5 * MS, 1000, 1), free(5 * MS, 1000, 1), alloc(6 * MS, 10, 1)])
        .unwrap();
    builder.events(2, &[alloc(5 * MS, 500, 2)]).unwrap();
    builder.finish(10 * MS).unwrap();
}

#[test]
fn a_block_allocated_and_freed_within_one_tick_reaches_the_peak() {
    analyse(one_tick, |recording| {
        let everything = EventFilter::everything();

        let peak = Peak::find(recording, &everything);
        let at_peak = Snapshot::take(recording, Moment::Peak(peak), &everything);
        let after_tick = Snapshot::take(recording, Moment::At(5 * MS), &everything);

        assert_eq!(peak, Peak { time_ns: 5 * MS, bytes: 1000, blocks: 1, events_at_time: 1 });
        assert_eq!(at_peak.counts[&StackId(1)], counts(1000, 1, 1000, 1));
        assert!(!at_peak.counts.contains_key(&StackId(2)), "thread 2's block comes later");
        assert_eq!(after_tick.total(), counts(500, 1, 1500, 2));
    });
}

/// Five segments of 100 ms; each allocates 1000 bytes from stack 1 at 10 ms into it and
/// frees the previous segment's block at 50 ms into it.
fn five_segments(builder: &mut TraceBuilder<&mut Vec<u8>>) {
    builder.segments_of_one_block_each(5).unwrap();
}

#[test]
fn a_moment_in_segment_3_of_5_is_counted_from_its_checkpoint() {
    analyse(
        |builder| {
            // Claims for stack 4 that only segment 3's checkpoint knows about: a replay from
            // the start would not see them.
            builder.segment(0).unwrap();
            builder.events(7, &[alloc(10 * MS, 1000, 1)]).unwrap();
            for segment in 1..5u64 {
                let start = segment * 100 * MS;
                if segment == 3 {
                    builder.set_totals(StackTotals {
                        stack: StackId(4),
                        live_bytes: 64,
                        live_blocks: 2,
                        alloc_bytes: 64,
                        alloc_blocks: 2,
                    });
                }
                builder.segment(start).unwrap();
                builder
                    .events(7, &[alloc(start + 10 * MS, 1000, 1), free(start + 50 * MS, 1000, 1)])
                    .unwrap();
            }
            builder.finish(500 * MS).unwrap();
        },
        |recording| {
            let inside_3 =
                Snapshot::take(recording, Moment::At(320 * MS), &EventFilter::everything());

            assert_eq!(inside_3.counts[&StackId(1)], counts(2000, 2, 4000, 4));
            assert_eq!(inside_3.counts[&StackId(4)], counts(64, 2, 64, 2));
            assert_eq!(inside_3.time_ns, 320 * MS);
        },
    );
}

#[test]
fn moments_and_peak_across_five_segments() {
    analyse(five_segments, |recording| {
        let everything = EventFilter::everything();

        let at = |ms| Snapshot::take(recording, Moment::At(ms * MS), &everything).total();

        assert_eq!(at(5), counts(0, 0, 0, 0));
        assert_eq!(at(320), counts(2000, 2, 4000, 4));
        assert_eq!(at(360), counts(1000, 1, 4000, 4));
        assert_eq!(
            Snapshot::take(recording, Moment::End, &everything).total(),
            counts(1000, 1, 5000, 5)
        );
        assert_eq!(
            Peak::find(recording, &everything),
            Peak { time_ns: 110 * MS, bytes: 2000, blocks: 2, events_at_time: 1 }
        );
    });
}

/// Thread 2's block is written after segment 1 starts at 50 ms, but its first event
/// happened at 45 ms, in segment 0's window: live is 100 at 10 ms, 600 at 45 ms, 100 at
/// 60 ms, 200 at 70 ms.
fn late_block(builder: &mut TraceBuilder<&mut Vec<u8>>) {
    builder.segment(0).unwrap();
    builder.events(1, &[alloc(10 * MS, 100, 1)]).unwrap();
    builder.segment(50 * MS).unwrap();
    builder.events(2, &[alloc(45 * MS, 500, 2), free(60 * MS, 500, 2)]).unwrap();
    builder.events(1, &[alloc(70 * MS, 100, 1)]).unwrap();
    builder.finish(80 * MS).unwrap();
}

#[test]
fn a_block_written_late_into_the_next_segment_counts_in_its_own_window() {
    analyse(late_block, |recording| {
        let everything = EventFilter::everything();

        let at =
            |ms| Snapshot::take(recording, Moment::At(ms * MS), &everything).total().live_bytes;

        assert_eq!(
            Peak::find(recording, &everything),
            Peak { time_ns: 45 * MS, bytes: 600, blocks: 2, events_at_time: 1 }
        );
        assert_eq!([at(40), at(47), at(55), at(65), at(75)], [100, 600, 600, 100, 200]);
        let timeline = Timeline::build(recording, 40 * MS, &everything).unwrap();
        let highs: Vec<(i64, u64)> =
            timeline.rows.iter().map(|row| (row.bytes, row.high_ns / MS)).collect();
        assert_eq!(highs, [(100, 10), (600, 45)]);
    });
}

#[test]
fn summary_counts_calls_threads_and_the_peak() {
    analyse(late_block, |recording| {
        let summary = Summary::compute(recording);

        assert_eq!((summary.allocations, summary.frees, summary.bytes_allocated), (3, 1, 700));
        assert_eq!((summary.peak_bytes, summary.peak_time_ms), (600, 45.0));
        assert_eq!((summary.leaked_bytes, summary.leaked_blocks), (200, 2));
        assert_eq!((summary.threads, summary.runtime_ms, summary.complete), (2, 80.0, true));
    });
}

/// Stack 1 (0x10 ← 0x20) holds 100, stack 2 (0x30 ← 0x20) 200, stack 3 (0x10 ← 0x20 ←
/// 0x10, recursive) 400.
fn three_stacks(builder: &mut TraceBuilder<&mut Vec<u8>>) {
    builder.segment(0).unwrap();
    builder.events(1, &[alloc(MS, 100, 1), alloc(2 * MS, 200, 2), alloc(3 * MS, 400, 3)]).unwrap();
    builder.events(1, &[free(4 * MS, 400, 3)]).unwrap();
    builder.finish(5 * MS).unwrap();
}

#[test]
fn top_counts_flat_at_the_innermost_frame_and_cum_once_per_stack() {
    analyse(three_stacks, |recording| {
        let mut symbols = StackSymbols::new(recording, false);
        let snapshot = Snapshot::take(recording, Moment::At(3 * MS), &EventFilter::everything());
        symbols.resolve(snapshot.counts.keys().copied());

        let top = Top::compute(
            &snapshot,
            &symbols,
            SampleType::InuseSpace,
            Granularity::Functions,
            false,
        );

        let rows: Vec<(&str, i64, i64)> =
            top.rows.iter().map(|r| (r.place.function.as_str(), r.flat, r.cum)).collect();
        assert_eq!(rows, [("??+0x10", 500, 500), ("??+0x30", 200, 200), ("??+0x20", 0, 700)]);
        assert_eq!((top.total, top.time_ns), (700, 3 * MS));
    });
}

#[test]
fn top_of_allocations_counts_freed_blocks_too() {
    analyse(three_stacks, |recording| {
        let mut symbols = StackSymbols::new(recording, false);
        let snapshot = Snapshot::take(recording, Moment::End, &EventFilter::everything());
        symbols.resolve(snapshot.counts.keys().copied());

        let top =
            Top::compute(&snapshot, &symbols, SampleType::AllocObjects, Granularity::Lines, true);

        let rows: Vec<(&str, i64, i64)> =
            top.rows.iter().map(|r| (r.place.function.as_str(), r.flat, r.cum)).collect();
        assert_eq!(rows, [("??+0x20", 0, 3), ("??+0x10", 2, 2), ("??+0x30", 1, 1)]);
    });
}

#[test]
fn focus_and_ignore_pick_stacks_by_any_frame() {
    analyse(three_stacks, |recording| {
        let mut symbols = StackSymbols::new(recording, false);
        let mut kept_at_3ms = |focus, ignore| {
            let filter = Filter::new(focus, ignore, None).unwrap();
            let snapshot =
                Snapshot::take(recording, Moment::At(3 * MS), &filter.resolve(&mut symbols));
            let mut stacks: Vec<u32> = snapshot.counts.keys().map(|s| s.0).collect();
            stacks.sort();
            stacks
        };

        assert_eq!(kept_at_3ms(Some(r"0x30$"), None), [2]);
        assert_eq!(kept_at_3ms(None, Some(r"0x30$")), [1, 3]);
        assert_eq!(kept_at_3ms(Some(r"0x20"), Some(r"0x10")), [2]);
    });
}

#[test]
fn an_invalid_pattern_is_one_line_naming_the_option() {
    let err = Filter::new(Some("grow("), None, None).unwrap_err().to_string();

    assert_eq!(err, "invalid focus regex `grow(`: unclosed group");
}

#[test]
fn diff_of_two_moments_shows_growth_first_and_shrinkage_negative() {
    analyse(three_stacks, |recording| {
        let mut symbols = StackSymbols::new(recording, false);
        let everything = EventFilter::everything();
        let before = Snapshot::take(recording, Moment::At(MS), &everything);
        let after = Snapshot::take(recording, Moment::At(4 * MS), &everything);
        symbols.resolve(before.counts.keys().chain(after.counts.keys()).copied());

        let diff = Diff::compute((&after, &symbols), (&before, &symbols), Granularity::Functions);

        let rows: Vec<(&str, i64, i64)> = diff
            .rows
            .iter()
            .map(|r| (r.place.function.as_str(), r.delta_bytes, r.delta_blocks))
            .collect();
        assert_eq!(rows, [("??+0x30", -200, -1)]);
    });
}

/// Two blocks of thread 1, 100 and 50 bytes at 1 and 2 ms, then 25 bytes at 3 ms, and
/// no end record: the recording was cut off.
fn cut_off(builder: &mut TraceBuilder<&mut Vec<u8>>) {
    builder.segment(0).unwrap();
    builder.events(1, &[alloc(MS, 100, 1), alloc(2 * MS, 50, 1)]).unwrap();
    builder.events(1, &[alloc(3 * MS, 25, 1)]).unwrap();
}

#[test]
fn a_truncated_trace_reports_what_it_holds() {
    let dir = TempDir::new().unwrap();
    let path = trace_file(&dir, cut_off).path().to_owned();
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
    let file = TraceFile::open(&path).unwrap();
    let recording = Recording::open(&file).unwrap();

    let damage = recording.damage();
    let at_end = Snapshot::take(&recording, Moment::End, &EventFilter::everything());

    let cut_block = memscope_format::Trace::parse(&bytes).unwrap().blocks().last().unwrap().offset;
    assert_eq!(damage.len(), 1, "{damage:?}");
    assert_eq!(damage[0].message, format!("truncated at byte {cut_block}"));
    assert_eq!((damage[0].end(), damage[0].events_lost), (bytes.len() as u64 - 3, None));
    assert!(recording.end().is_none());
    assert_eq!(at_end.counts[&StackId(1)], counts(150, 2, 150, 2));
    assert_eq!(recording.end_ns(), 2 * MS);
}

/// Issue 17: a trace cut exactly at a block boundary was reported by `summary` alone.
#[test]
fn end_of_a_cut_off_trace_is_its_last_event() {
    let dir = TempDir::new().unwrap();
    let file = trace_file(&dir, cut_off);
    let recording = Recording::open(&file).unwrap();
    let len = fs::metadata(file.path()).unwrap().len();
    assert_eq!(recording.end_ns(), 3 * MS);
    let damage = recording.damage();
    let message = format!("the trace ends at byte {len} without an end record");
    assert_eq!(damage.len(), 1, "{damage:?}");
    assert_eq!((damage[0].offset, damage[0].length, &damage[0].message), (len, 0, &message));
    assert_eq!((damage[0].events_lost, damage[0].last_read_ns), (None, Some(3 * MS)));
}

/// `Snapshot::series` must hand out, at each moment, what `Snapshot::take` counts there.
fn series_equals_take(recording: &Recording, filter: &EventFilter, times_ms: &[u64]) {
    let peak = Peak::find(recording, filter);
    let mut moments: Vec<Moment> = times_ms.iter().map(|&ms| Moment::At(ms * MS)).collect();
    let at = moments.partition_point(|m| matches!(m, Moment::At(t) if *t < peak.time_ns));
    moments.insert(at, Moment::Peak(peak));
    moments.push(Moment::End);
    let mut seen = Vec::new();

    Snapshot::series(recording, &moments, filter, |index, snapshot| {
        seen.push((index, snapshot.clone()));
    });

    let expected: Vec<(usize, Snapshot)> = moments
        .iter()
        .enumerate()
        .map(|(index, &moment)| (index, Snapshot::take(recording, moment, filter)))
        .collect();
    for ((index, got), (_, want)) in seen.iter().zip(&expected) {
        let live = |s: &Snapshot| {
            let mut counts: Vec<(StackId, StackCounts)> = s
                .counts
                .iter()
                .filter(|(_, c)| **c != StackCounts::default())
                .map(|(k, v)| (*k, *v))
                .collect();
            counts.sort_by_key(|(stack, _)| *stack);
            counts
        };
        assert_eq!((got.time_ns, got.temporary), (want.time_ns, want.temporary), "moment {index}");
        assert_eq!(live(got), live(want), "moment {index} ({:?})", moments[*index]);
    }
    assert_eq!(seen.len(), moments.len());
}

#[test]
fn a_series_of_snapshots_from_one_replay_equals_snapshots_taken_one_by_one() {
    let everything = EventFilter::everything();
    let thread_2 = Filter::new(None, None, Some(ThreadId(2))).unwrap();
    analyse(late_block, |recording| {
        series_equals_take(recording, &everything, &[0, 10, 45, 47, 60, 75, 80])
    });
    analyse(five_segments, |recording| {
        series_equals_take(recording, &everything, &[5, 110, 320, 360, 499])
    });
    analyse(one_tick, |recording| series_equals_take(recording, &everything, &[4, 5, 6]));
    analyse(interleaved, |recording| {
        let mut symbols = StackSymbols::new(recording, false);
        let filter = thread_2.resolve(&mut symbols);
        series_equals_take(recording, &filter, &[15, 25, 35, 45]);
    });
}

/// Stack 1 (0x20 calls 0x10) keeps 100 bytes, stack 3 (0x10 calls 0x20 calls 0x10) keeps
/// 50, stack 2 (0x20 calls 0x30) allocates 200 and frees them.
fn three_paths(builder: &mut TraceBuilder<&mut Vec<u8>>) {
    builder.segment(0).unwrap();
    builder
        .events(
            1,
            &[alloc(MS, 100, 1), alloc(2 * MS, 200, 2), free(3 * MS, 200, 2), alloc(4 * MS, 50, 3)],
        )
        .unwrap();
    builder.finish(5 * MS).unwrap();
}

#[test]
fn profile_call_tree_and_call_graph_of_three_paths() {
    analyse(three_paths, |recording| {
        let end = Snapshot::take(recording, Moment::End, &EventFilter::everything());
        let mut symbols = StackSymbols::new(recording, false);
        symbols.resolve_all();

        let profile = StackProfile::compute(&end, &symbols);
        let mut ids: Vec<_> = symbols.stack_ids().collect();
        ids.sort();
        let tree = CallTree::build(&symbols, ids);
        let values = tree.values(&end);
        let functions = tree.function_values(&values);
        let graph = CallGraph::compute(&end, &symbols, SampleType::InuseSpace, 0);

        let leaves: Vec<(&str, i64, i64)> = profile
            .stacks
            .iter()
            .map(|s| {
                (
                    s.locations[0].frames[0].function.as_str(),
                    s.counts.live_bytes,
                    s.counts.alloc_bytes,
                )
            })
            .collect();
        assert_eq!(leaves, [("??+0x10", 100, 100), ("??+0x10", 50, 50), ("??+0x30", 0, 200)]);
        assert_eq!(profile.stacks[1].locations.len(), 3, "one location per address");
        assert_eq!((values.totals[0].live_bytes, values.totals[0].alloc_bytes), (150, 350));
        let function = |name: &str| {
            let index = tree.functions().iter().position(|p| p.function == name).unwrap();
            (functions[index].flat.live_bytes, functions[index].cum.live_bytes)
        };
        assert_eq!(function("??+0x10"), (150, 150), "the recursive path counts once in cum");
        assert_eq!(function("??+0x20"), (0, 150));
        assert_eq!(function("??+0x30"), (0, 0));
        assert_eq!(graph.total, 150);
        let names: Vec<&str> = graph.nodes.iter().map(|n| n.place.function.as_str()).collect();
        let index = |name: &str| names.iter().position(|n| *n == name).unwrap();
        let (f10, f20) = (index("??+0x10"), index("??+0x20"));
        assert_eq!(
            graph.edges,
            [
                CallEdge { caller: f20, callee: f10, weight: 150, residual: false },
                CallEdge { caller: f10, callee: f20, weight: 50, residual: false },
            ]
        );
    });
}
