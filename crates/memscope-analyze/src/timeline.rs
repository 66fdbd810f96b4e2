//! The live heap over time: for each interval, its highest point.
//!
//! Each segment's window is replayed in time order on its own thread, counting from zero;
//! the windows' highs are then shifted by what the windows before them left live. Nothing
//! is taken from checkpoints, so the same code serves a view of one thread, which
//! checkpoints do not break down.

use memscope_format::Event;
use rayon::prelude::*;

use crate::block_heads::late_heads;
use crate::error::AnalyzeError;
use crate::event_merge::merge_in_time_order;
use crate::filter::EventFilter;
use crate::recording::Recording;

/// Rows a timeline may have: beyond this the interval is surely a mistake.
const MAX_ROWS: u64 = 10_000_000;

/// The highest live heap in each interval of a recording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeline {
    /// Length of each interval, nanoseconds.
    pub interval_ns: u64,
    /// One row per interval, from time 0 to the end of the recording.
    pub rows: Vec<TimelineRow>,
}

/// One interval of a [`Timeline`].
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct TimelineRow {
    /// Where the interval starts, nanoseconds.
    pub start_ns: u64,
    /// The highest live bytes inside it.
    pub bytes: i64,
    /// Live blocks at that high.
    pub blocks: i64,
    /// When the high was reached (the interval's start if it was held from before).
    pub high_ns: u64,
    /// How many events of time `high_ns` the replay had applied at the high: the high
    /// may come between two events of one clock tick.
    pub high_events_at_time: usize,
    /// The highest resident set size the recorder sampled inside the interval (it
    /// samples about every 10 ms), for heap against RSS; `None` without a sample.
    pub rss_bytes: Option<u64>,
}

impl Timeline {
    /// Replays `recording` with intervals of `interval_ns`, counting what `filter` keeps.
    pub fn build(
        recording: &Recording,
        interval_ns: u64,
        filter: &EventFilter,
    ) -> Result<Timeline, AnalyzeError> {
        let rows = match interval_ns {
            0 => u64::MAX,
            _ => recording.end_ns().div_ceil(interval_ns).max(1),
        };
        if rows > MAX_ROWS {
            return Err(AnalyzeError::Interval { interval_ns, rows, max_rows: MAX_ROWS });
        }
        let mut rows = live_curve(recording, interval_ns, rows as usize, filter);
        add_rss(&mut rows, recording, interval_ns);
        Ok(Timeline { interval_ns, rows })
    }
}

/// Puts each RSS sample's high into the row of its interval.
fn add_rss(rows: &mut [TimelineRow], recording: &Recording, interval_ns: u64) {
    for sample in recording.rss() {
        let index = (sample.time_ns / interval_ns.max(1)) as usize;
        if let Some(row) = rows.get_mut(index.min(rows.len().saturating_sub(1))) {
            row.rss_bytes = Some(row.rss_bytes.unwrap_or(0).max(sample.rss_bytes));
        }
    }
}

/// Live bytes and blocks.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
struct Level {
    bytes: i64,
    blocks: i64,
}

impl Level {
    fn plus(self, other: Level) -> Level {
        Level { bytes: self.bytes + other.bytes, blocks: self.blocks + other.blocks }
    }
}

/// What one window says about one interval, counted from the window's start.
#[derive(Copy, Clone, Debug)]
struct Part {
    interval: u64,
    first_ns: u64,
    high: Level,
    high_at: Position,
    end: Level,
}

/// An event's place in the replay: its time, and how many events of that time came up
/// to and including it.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
struct Position {
    time_ns: u64,
    events_at_time: usize,
}

/// Replays one window: the live level, relative to the window's start, after each
/// event. Events of one timestamp are counted one by one, so a block allocated and freed
/// within one clock tick still reaches the high.
struct WindowCurve {
    interval_ns: u64,
    live: Level,
    at: Position,
    parts: Vec<Part>,
}

impl WindowCurve {
    fn event(&mut self, event: &Event) {
        if self.at.time_ns != event.time_ns {
            self.at = Position { time_ns: event.time_ns, events_at_time: 0 };
        }
        self.at.events_at_time += 1;
        let size = event.size as i64;
        if event.kind.is_free() {
            self.live = Level { bytes: self.live.bytes - size, blocks: self.live.blocks - 1 };
        } else {
            self.live = Level { bytes: self.live.bytes + size, blocks: self.live.blocks + 1 };
        }
        let (interval, live, at) = (event.time_ns / self.interval_ns, self.live, self.at);
        match self.parts.last_mut() {
            Some(part) if part.interval == interval => {
                if live.bytes > part.high.bytes {
                    (part.high, part.high_at) = (live, at);
                }
                part.end = live;
            }
            _ => self.parts.push(Part {
                interval,
                first_ns: at.time_ns,
                high: live,
                high_at: at,
                end: live,
            }),
        }
    }
}

/// The highs of `rows` intervals of `interval_ns` (more if events run past them).
pub(crate) fn live_curve(
    recording: &Recording,
    interval_ns: u64,
    rows: usize,
    filter: &EventFilter,
) -> Vec<TimelineRow> {
    recording.read_all_heads();
    let windows: Vec<(Vec<Part>, Level)> = (0..recording.segments().len())
        .into_par_iter()
        .map(|segment| replay_window(recording, segment, interval_ns, filter))
        .collect();
    let mut offset = Level::default();
    let mut parts = Vec::new();
    for (window_parts, net) in windows {
        parts.extend(window_parts.into_iter().map(|part| Part {
            high: part.high.plus(offset),
            end: part.end.plus(offset),
            ..part
        }));
        offset = offset.plus(net);
    }
    combine(&parts, interval_ns, rows)
}

fn replay_window(
    recording: &Recording,
    segment: usize,
    interval_ns: u64,
    filter: &EventFilter,
) -> (Vec<Part>, Level) {
    let window = recording.segments()[segment].window_start..recording.window_end(segment);
    let mut blocks = recording.heads(segment).to_vec();
    blocks.extend(late_heads(recording, segment, window.end.saturating_sub(1)));
    blocks.retain(|head| filter.keeps_thread(head.thread));
    let mut curve = WindowCurve {
        interval_ns,
        live: Level::default(),
        at: Position::default(),
        parts: Vec::new(),
    };
    merge_in_time_order(recording, blocks, window, |event| {
        if filter.keeps_stack(event.stack) {
            curve.event(event);
        }
    });
    (curve.parts, curve.live)
}

/// Turns the parts, in time order and shifted to absolute levels, into one row per
/// interval. An interval's high is at least the level it starts with, held from before.
fn combine(parts: &[Part], interval_ns: u64, rows: usize) -> Vec<TimelineRow> {
    let rows = parts.last().map_or(rows, |part| rows.max(part.interval as usize + 1));
    let mut live = Level::default();
    let mut parts = parts.iter().peekable();
    (0..rows as u64)
        .map(|interval| {
            let start_ns = interval.saturating_mul(interval_ns);
            let mut row = TimelineRow {
                start_ns,
                bytes: live.bytes,
                blocks: live.blocks,
                high_ns: start_ns,
                high_events_at_time: 0,
                rss_bytes: None,
            };
            let mut held = true;
            while let Some(part) = parts.next_if(|part| part.interval == interval) {
                // Events at the very start take the place of the level held before them.
                if (held && part.first_ns == start_ns) || part.high.bytes > row.bytes {
                    row = TimelineRow {
                        start_ns,
                        bytes: part.high.bytes,
                        blocks: part.high.blocks,
                        high_ns: part.high_at.time_ns,
                        high_events_at_time: part.high_at.events_at_time,
                        rss_bytes: None,
                    };
                }
                held = false;
                live = part.end;
            }
            row
        })
        .collect()
}
