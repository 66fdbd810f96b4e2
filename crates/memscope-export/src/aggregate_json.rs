//! The aggregate model as JSON, for scripts: every frame once, every stack as frame
//! indexes with the four sample types, the timeline and the summary. The field names are
//! an interface, documented in the README.

use std::collections::HashMap;
use std::io::Write;

use memscope_analyze::{ns_to_ms, Frame, Recording, StackProfile, Summary, Timeline, TimelineRow};
use serde::Serialize;

use crate::error::ExportError;

/// Version of the JSON layout; it changes only when a field changes meaning or goes.
const VERSION: u32 = 1;

/// What the JSON export is written from.
pub struct AggregateInput<'a> {
    /// The recording (its command, pid and executable).
    pub recording: &'a Recording<'a>,
    /// The stacks at the moment.
    pub profile: &'a StackProfile<'a>,
    /// How the moment is named ("423.843 ms (peak)").
    pub moment: &'a str,
    /// The headline numbers.
    pub summary: &'a Summary,
    /// The live heap over time.
    pub timeline: &'a Timeline,
}

#[derive(Serialize)]
struct AggregateJson<'a> {
    format: &'static str,
    version: u32,
    exe: &'a str,
    command: &'a [String],
    pid: u32,
    moment: MomentJson<'a>,
    summary: &'a Summary,
    frames: Vec<&'a Frame>,
    stacks: Vec<StackJson>,
    timeline: TimelineJson,
}

#[derive(Serialize)]
struct MomentJson<'a> {
    time_ms: f64,
    label: &'a str,
}

#[derive(Serialize)]
struct StackJson {
    frames: Vec<usize>,
    alloc_objects: i64,
    alloc_space: i64,
    inuse_objects: i64,
    inuse_space: i64,
}

#[derive(Serialize)]
struct TimelineJson {
    interval_ms: f64,
    rows: Vec<TimelineRowJson>,
}

/// One timeline row as JSON, as `memscope timeline --json` and the JSON export print it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimelineRowJson {
    /// Where the interval starts, ms.
    pub t_ms: f64,
    /// The highest live bytes inside it.
    pub bytes: i64,
    /// Live blocks at that high.
    pub blocks: i64,
    /// When the high was reached, ms.
    pub high_ms: f64,
    /// Events of the tick at `high_ms` up to the high: `--at HIGH_MS#HIGH_EVENTS` shows
    /// what was live then.
    pub high_events: usize,
    /// The highest RSS sampled inside it, if any was.
    pub rss_bytes: Option<u64>,
}

impl From<&TimelineRow> for TimelineRowJson {
    fn from(row: &TimelineRow) -> Self {
        TimelineRowJson {
            t_ms: ns_to_ms(row.start_ns),
            bytes: row.bytes,
            blocks: row.blocks,
            high_ms: ns_to_ms(row.high_ns),
            high_events: row.high_events_at_time,
            rss_bytes: row.rss_bytes,
        }
    }
}

/// Writes the aggregate model as JSON on one line, and a newline.
pub fn write_aggregate_json(
    out: &mut impl Write,
    input: &AggregateInput,
) -> Result<(), ExportError> {
    let meta = input.recording.meta();
    let mut frames: Vec<&Frame> = Vec::new();
    let mut frame_index: HashMap<&Frame, usize> = HashMap::new();
    let stacks = input
        .profile
        .stacks
        .iter()
        .map(|stack| {
            let frames = stack
                .locations
                .iter()
                .flat_map(|location| location.frames)
                .map(|frame| {
                    *frame_index.entry(frame).or_insert_with(|| {
                        frames.push(frame);
                        frames.len() - 1
                    })
                })
                .collect();
            let c = &stack.counts;
            StackJson {
                frames,
                alloc_objects: c.alloc_blocks,
                alloc_space: c.alloc_bytes,
                inuse_objects: c.live_blocks,
                inuse_space: c.live_bytes,
            }
        })
        .collect();
    let timeline = TimelineJson {
        interval_ms: input.timeline.interval_ns as f64 / 1e6,
        rows: input.timeline.rows.iter().map(TimelineRowJson::from).collect(),
    };
    let json = AggregateJson {
        format: "memscope-aggregate",
        version: VERSION,
        exe: &meta.exe,
        command: &meta.args,
        pid: meta.pid,
        moment: MomentJson { time_ms: ns_to_ms(input.profile.time_ns), label: input.moment },
        summary: input.summary,
        frames,
        stacks,
        timeline,
    };
    // One line: a stack's frame indexes, one per line, would make most of the file.
    let mut text = serde_json::to_string(&json)
        .map_err(|e| ExportError::Write { what: "JSON export", source: e.into() })?;
    text.push('\n');
    out.write_all(text.as_bytes()).map_err(ExportError::write("JSON export"))
}
