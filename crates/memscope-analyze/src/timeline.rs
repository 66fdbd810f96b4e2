//! The live heap over time: for each interval, its highest point.
//!
//! Each segment's window is replayed in time order on its own thread, counting from zero;
//! the windows' highs are then shifted by the level the window starts at. That level is
//! the segment's checkpoint, plus the events written after it that happened before the
//! window (a busy thread's late block): so events lost to damage in one window do not
//! shift every window after it. A view of one thread, which checkpoints do not break
//! down, shifts each window by what the windows before it left live instead.

use memscope_format::Event;
use rayon::prelude::*;

use crate::block_heads::{for_each_event_before, late_heads};
use crate::counts::StackCounts;
use crate::error::AnalyzeError;
use crate::event_merge::merge_in_time_order;
use crate::filter::EventFilter;
use crate::recording::Recording;
use crate::sampling::Sampling;

/// Rows a timeline may have: beyond this the interval is surely a mistake.
const MAX_ROWS: u64 = 10_000_000;

/// The highest live heap in each interval of a recording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeline {
    /// Length of each interval, nanoseconds.
    pub interval_ns: u64,
    /// One row per interval, from time 0 (or the interval of the recording's first
    /// checkpoint, for a rotated series whose oldest files are gone) to its end.
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
        let mut rows = live_curve(recording, Bins::Every(interval_ns), rows as usize, filter);
        // Rows before a rotated series' first checkpoint would show what is not known.
        let unknown = recording.covers_from_ns().map_or(0, |from| from / interval_ns);
        rows.drain(..(unknown as usize).min(rows.len().saturating_sub(1)));
        add_rss(&mut rows, recording, interval_ns);
        Ok(Timeline { interval_ns, rows })
    }
}

/// Puts each RSS sample's high into the row of its interval.
fn add_rss(rows: &mut [TimelineRow], recording: &Recording, interval_ns: u64) {
    let first = rows.first().map_or(0, |row| row.start_ns / interval_ns.max(1));
    for sample in recording.rss() {
        let index = (sample.time_ns / interval_ns.max(1)).saturating_sub(first) as usize;
        if let Some(row) = rows.get_mut(index.min(rows.len().saturating_sub(1))) {
            row.rss_bytes = Some(row.rss_bytes.unwrap_or(0).max(sample.rss_bytes));
        }
    }
}

/// How a curve's events fall into rows.
#[derive(Copy, Clone, Debug)]
pub(crate) enum Bins {
    /// Intervals of this many nanoseconds from 0.
    Every(u64),
    /// Three rows: before the window, the window, after it.
    Window { from_ns: u64, to_ns: u64 },
}

impl Bins {
    /// The row of an event at `time_ns`.
    fn index(self, time_ns: u64) -> u64 {
        match self {
            Bins::Every(interval_ns) => time_ns / interval_ns,
            Bins::Window { from_ns, to_ns } => {
                u64::from(time_ns >= from_ns) + u64::from(time_ns >= to_ns)
            }
        }
    }

    /// Where row `index` starts.
    fn start(self, index: u64) -> u64 {
        match (self, index) {
            (Bins::Every(interval_ns), _) => index.saturating_mul(interval_ns),
            (Bins::Window { .. }, 0) => 0,
            (Bins::Window { from_ns, .. }, 1) => from_ns,
            (Bins::Window { to_ns, .. }, _) => to_ns,
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
        Level {
            bytes: self.bytes.saturating_add(other.bytes),
            blocks: self.blocks.saturating_add(other.blocks),
        }
    }

    /// The level after `event`, which stands for more than itself in a sampled
    /// recording.
    fn after(self, event: &Event, sampling: Option<&Sampling>) -> Level {
        let (size, blocks) = match sampling {
            Some(sampling) => sampling.event(event.size),
            None => (event.size as i64, 1),
        };
        if event.kind.is_free() {
            Level {
                bytes: self.bytes.saturating_sub(size),
                blocks: self.blocks.saturating_sub(blocks),
            }
        } else {
            Level {
                bytes: self.bytes.saturating_add(size),
                blocks: self.blocks.saturating_add(blocks),
            }
        }
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
    bins: Bins,
    sampling: Option<Sampling>,
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
        self.live = self.live.after(event, self.sampling.as_ref());
        let (interval, live, at) = (self.bins.index(event.time_ns), self.live, self.at);
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

/// The highs of `rows` rows of `bins` (more if events run past them, up to the most a
/// timeline may have).
pub(crate) fn live_curve(
    recording: &Recording,
    bins: Bins,
    rows: usize,
    filter: &EventFilter,
) -> Vec<TimelineRow> {
    recording.read_all_heads();
    let windows: Vec<Window> = (0..recording.segments().len())
        .into_par_iter()
        .map(|segment| replay_window(recording, segment, bins, filter))
        .collect();
    let first = windows.first().and_then(|window| window.start).unwrap_or_default();
    let from = Known { level: first, time_ns: recording.covers_from_ns().unwrap_or(0) };
    let mut level = Level::default();
    let mut parts = Vec::new();
    for window in windows {
        level = window.start.unwrap_or(level);
        parts.extend(window.parts.into_iter().map(|part| Part {
            high: part.high.plus(level),
            end: part.end.plus(level),
            ..part
        }));
        level = level.plus(window.net);
    }
    combine(&parts, bins, rows, from)
}

/// The level a curve starts from, and from when it is known: nothing at time 0, or a
/// rotated series' first checkpoint.
#[derive(Copy, Clone, Debug)]
struct Known {
    level: Level,
    time_ns: u64,
}

/// One window replayed: its parts counted from zero, what it left live, and the level
/// it starts at if the checkpoints tell.
struct Window {
    parts: Vec<Part>,
    net: Level,
    start: Option<Level>,
}

fn replay_window(
    recording: &Recording,
    segment: usize,
    bins: Bins,
    filter: &EventFilter,
) -> Window {
    let window = recording.segments()[segment].window_start..recording.window_end(segment);
    let mut blocks = recording.heads(segment).to_vec();
    blocks.extend(late_heads(recording, segment, window.end.saturating_sub(1)));
    blocks.retain(|head| filter.keeps_thread(head.thread));
    let mut curve = WindowCurve {
        bins,
        sampling: recording.sampling(),
        live: Level::default(),
        at: Position::default(),
        parts: Vec::new(),
    };
    merge_in_time_order(recording, blocks, window.clone(), |event| {
        if filter.keeps_stack(event.stack) {
            curve.event(event);
        }
    });
    let start = start_level(recording, segment, window.start, filter);
    Window { parts: curve.parts, net: curve.live, start }
}

/// The live level just before `window_start`, the start of `segment`'s window: its
/// checkpoint, which counts every event written before it, plus the events written
/// after it that happened before the window. `None` for the first segment of a
/// recording that holds the run from its start (it starts from nothing), for a view of
/// one thread, and where the checkpoint does not decode.
fn start_level(
    recording: &Recording,
    segment: usize,
    window_start: u64,
    filter: &EventFilter,
) -> Option<Level> {
    let from_nothing = segment == 0 && recording.covers_from_ns().is_none();
    if from_nothing || filter.thread().is_some() {
        return None;
    }
    let checkpoint = recording.checkpoint(segment)?;
    let sampling = recording.sampling();
    let mut level = Level::default();
    for totals in checkpoint.stacks.iter().filter(|t| filter.keeps_stack(t.stack)) {
        // Read as two's complement, as the recorder lets a live total dip below zero.
        let live = StackCounts::from_totals(totals);
        let live = match sampling {
            Some(sampling) => sampling.estimate(&live),
            None => live,
        };
        let live = Level { bytes: live.live_bytes, blocks: live.live_blocks };
        level = level.plus(live);
    }
    for_each_event_before(recording, segment, window_start, |event| {
        if filter.keeps_stack(event.stack) {
            level = level.after(event, sampling.as_ref());
        }
    });
    Some(level)
}

/// Turns the parts, in time order and shifted to absolute levels, into one row per
/// interval. An interval's high is at least the level it starts with, held from before
/// (or from when it is known).
fn combine(parts: &[Part], bins: Bins, rows: usize, from: Known) -> Vec<TimelineRow> {
    let last = parts.last().map_or(0, |part| part.interval.saturating_add(1));
    let rows = rows.max(last.min(MAX_ROWS) as usize);
    let mut live = from.level;
    let mut parts = parts.iter().peekable();
    (0..rows as u64)
        .map(|interval| {
            let start_ns = bins.start(interval);
            let mut row = TimelineRow {
                start_ns,
                bytes: live.bytes,
                blocks: live.blocks,
                high_ns: start_ns.max(from.time_ns),
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
