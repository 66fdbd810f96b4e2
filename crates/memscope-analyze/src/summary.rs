//! The headline numbers of a recording.

use memscope_format::EndReason;
use serde::Serialize;

use crate::filter::EventFilter;
use crate::peak::Peak;
use crate::problems::{Loss, Problem};
use crate::recording::Recording;
use crate::sampling::Sampling;
use crate::snapshot::{Moment, Snapshot};
use crate::time::ns_to_ms;

/// The headline numbers of a recording (`memscope summary`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Calls that allocated a block.
    pub allocations: u64,
    /// Calls that freed a tracked block.
    pub frees: u64,
    /// Bytes requested by all allocations.
    pub bytes_allocated: u64,
    /// Highest live heap, in bytes.
    pub peak_bytes: u64,
    /// When it was reached, milliseconds since start.
    pub peak_time_ms: f64,
    /// How many events of the clock tick at `peak_time_ms` came up to the peak (the
    /// moment `MS#EVENTS` that `--at` takes); unknown for the recorder's totals.
    pub peak_events: Option<usize>,
    /// Bytes still live at the end.
    pub leaked_bytes: u64,
    /// Blocks still live at the end.
    pub leaked_blocks: u64,
    /// Blocks freed by their thread before it allocated anything else.
    pub temporary_allocations: u64,
    /// Length of the recording, milliseconds.
    pub runtime_ms: f64,
    /// Threads that allocated or freed.
    pub threads: u64,
    /// Whether the recording ended with an end block (nothing was lost at the end).
    pub complete: bool,
    /// How it ended: `exit`, `_exit`, `exec`, `signal N`, or null when cut off.
    pub end_reason: Option<String>,
    /// Peak resident set size of the process (VmHWM), bytes; 0 if unknown.
    pub peak_rss_bytes: u64,
    /// Events the recorder could not write.
    pub dropped_events: u64,
    /// Where what the recording holds starts, milliseconds: the first checkpoint of a
    /// rotated series whose oldest files are gone (the totals still count the whole run,
    /// as the checkpoint carries them); null when it holds the run from its start.
    pub covers_from_ms: Option<f64>,
    /// How the recorder sampled (`{"rate": N}`), if it did: the figures are estimates.
    pub sampled: Option<Sampling>,
}

fn reason_name(reason: EndReason) -> String {
    match reason {
        EndReason::Exit => "exit".into(),
        EndReason::ImmediateExit => "_exit".into(),
        EndReason::Exec => "exec".into(),
        EndReason::Signal(signal) => format!("signal {signal}"),
    }
}

/// A count that only a damaged or filtered view could make negative.
fn count(value: i64) -> u64 {
    value.max(0) as u64
}

impl Summary {
    /// Replays the whole recording for its peak, and its last segment for the totals.
    pub fn compute(recording: &Recording) -> Summary {
        let everything = EventFilter::everything();
        let peak = Peak::find(recording, &everything);
        let at_end = Snapshot::take(recording, Moment::End, &everything);
        let total = at_end.total();
        let summary = Summary {
            allocations: count(total.alloc_blocks),
            frees: count(total.frees()),
            bytes_allocated: count(total.alloc_bytes),
            peak_bytes: count(peak.bytes),
            peak_time_ms: ns_to_ms(peak.time_ns),
            peak_events: Some(peak.events_at_time),
            leaked_bytes: count(total.live_bytes),
            leaked_blocks: count(total.live_blocks),
            temporary_allocations: count(at_end.temporary.unwrap_or(0)),
            threads: threads(recording),
            ..Summary::of_ending(recording)
        };
        check_against_recorder(recording, &summary);
        summary
    }

    /// The totals the recorder kept as it wrote the trace, read from its end record
    /// without a replay; `None` for a trace cut off or written before format version 3,
    /// and for a sampled recording (its totals count samples, which only the replay
    /// scales back to estimates, stack by stack).
    /// They equal [`Summary::compute`]'s, except that where events of several threads
    /// share the microsecond of the peak, the peak may count them in another order.
    pub fn from_recorder(recording: &Recording) -> Option<Summary> {
        if recording.sampling().is_some() {
            return None;
        }
        let totals = recording.end()?.totals.as_ref()?;
        Some(Summary {
            allocations: totals.allocations,
            frees: totals.frees,
            bytes_allocated: totals.bytes_allocated,
            peak_bytes: totals.peak_bytes,
            peak_time_ms: ns_to_ms(totals.peak_time_ns),
            leaked_bytes: totals.leaked_bytes,
            leaked_blocks: totals.leaked_blocks,
            temporary_allocations: totals.temporary,
            threads: totals.threads,
            ..Summary::of_ending(recording)
        })
    }

    /// How the recording ended, with every total zero.
    fn of_ending(recording: &Recording) -> Summary {
        let end = recording.end();
        Summary {
            runtime_ms: ns_to_ms(recording.end_ns()),
            complete: end.is_some(),
            end_reason: end.map(|e| reason_name(e.reason)),
            peak_rss_bytes: end.map_or_else(
                || recording.rss().iter().map(|s| s.rss_bytes).max().unwrap_or(0),
                |e| e.peak_rss_bytes,
            ),
            dropped_events: end.map_or(0, |e| e.dropped_events),
            covers_from_ms: recording.covers_from_ns().map(ns_to_ms),
            sampled: recording.sampling(),
            ..Summary::default()
        }
    }
}

/// The threads that allocated or freed: those the replay saw or, where the oldest files
/// of a rotated series are gone and the recorder's totals are there, the recorder's
/// count, which includes the threads of the files deleted.
fn threads(recording: &Recording) -> u64 {
    let recorded = recording.end().and_then(|end| end.totals.as_ref()).map(|t| t.threads);
    match recorded {
        Some(threads) if recording.covers_from_ns().is_some() => threads,
        _ => recording.threads().len() as u64,
    }
}

/// Compares the replay with the totals the recorder kept, which count the same events.
/// A difference in the number of events is found by the damage accounting, which names
/// the end record; this notes the figures that differ although the counts agree. Where
/// other damage is known, the figures are expected to differ and nothing is noted.
fn check_against_recorder(recording: &Recording, replayed: &Summary) {
    let Some(recorded) = Summary::from_recorder(recording) else { return };
    if !recording.problems().is_empty()
        || recorded.allocations + recorded.frees != replayed.allocations + replayed.frees
    {
        return;
    }
    let figures = [
        ("bytes allocated", recorded.bytes_allocated, replayed.bytes_allocated),
        ("frees", recorded.frees, replayed.frees),
        ("temporary allocations", recorded.temporary_allocations, replayed.temporary_allocations),
        ("bytes leaked", recorded.leaked_bytes, replayed.leaked_bytes),
        ("blocks leaked", recorded.leaked_blocks, replayed.leaked_blocks),
        ("threads", recorded.threads, replayed.threads),
    ];
    let differing: Vec<String> = figures
        .iter()
        .filter(|(_, recorded, replayed)| recorded != replayed)
        .map(|(what, recorded, replayed)| format!("{what} {recorded} recorded, {replayed} read"))
        .collect();
    if differing.is_empty() {
        return;
    }
    let end = recording.trace().blocks().last().map_or(0, |block| block.offset);
    let message = format!(
        "the end record at byte {} disagrees with the events: {}",
        recording.trace().local_offset(end),
        differing.join(", ")
    );
    recording.note(Problem { offset: end, length: 0, message, loss: Loss::Nothing });
}
