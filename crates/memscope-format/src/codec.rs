//! Encoding and decoding of block payloads, one pair of functions per record type.
//! Times inside a block are deltas from the previous time, which keeps them to a byte
//! or two each.

use crate::error::DecodeError;
use crate::ids::{StackId, ThreadId};
use crate::record::{
    End, EndReason, Event, EventBatch, EventKind, Meta, Module, ModuleMap, Record, RssSample,
    RunTotals, SegmentStart, StackDef, StackTotals, ThreadName,
};
use crate::varint::{put_all, put_bytes, put_i64, put_u64, zigzag, Cursor};

/// The most events one block may hold. No writer ever made more (the recorder's chunks
/// hold 8192); [`crate::TraceWriter`] splits a longer batch. A block decodes into at
/// most this many 24-byte events, whatever it claims.
pub const MAX_BLOCK_EVENTS: u64 = 1 << 16;
/// The most resident-memory samples one block may hold.
pub const MAX_BLOCK_SAMPLES: u64 = 1 << 16;
/// The most frames one stack may have: the recorder keeps at most 256.
pub const MAX_STACK_FRAMES: u64 = 1024;
/// The most thread names an end record may hold.
pub const MAX_THREAD_NAMES: u64 = 1 << 16;
/// The longest thread name an end record may hold, bytes (Linux keeps 15).
pub const MAX_THREAD_NAME_LEN: u64 = 64;
/// The largest size an event may carry: no block is larger than the x86_64 address
/// space (2^56 bytes with five-level page tables).
pub const MAX_EVENT_SIZE: u64 = 1 << 56;
/// The latest time a record may carry, nanoseconds since the recorder started (about
/// 146 years): deltas that add up past it are damage, not a wrap.
pub const MAX_TIME_NS: u64 = 1 << 62;

/// `value`, if it is at most `max`.
fn at_most(what: &'static str, value: u64, max: u64) -> Result<u64, DecodeError> {
    if value > max {
        return Err(DecodeError::OutOfRange { what, value, max });
    }
    Ok(value)
}

/// A count read from the payload, if it is at most `max`.
fn count_at_most(cur: &mut Cursor, what: &'static str, max: u64) -> Result<usize, DecodeError> {
    let count = cur.len_prefix()?;
    if count as u64 > max {
        return Err(DecodeError::TooMany { what, count: count as u64, max });
    }
    Ok(count)
}

/// A time read from the payload.
fn time(cur: &mut Cursor) -> Result<u64, DecodeError> {
    at_most("time", cur.u64()?, MAX_TIME_NS)
}

/// The time `delta` after `previous`, checked: no sum of deltas wraps.
fn add_delta(previous: u64, delta: i64) -> Result<u64, DecodeError> {
    let sum = previous.checked_add_signed(delta);
    let value =
        sum.ok_or(DecodeError::OutOfRange { what: "time", value: u64::MAX, max: MAX_TIME_NS })?;
    at_most("time", value, MAX_TIME_NS)
}

/// The kind byte that opens every block.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum BlockKind {
    /// [`Record::Meta`]
    Meta = 1,
    /// [`Record::SegmentStart`]
    SegmentStart = 2,
    /// [`Record::Modules`]
    Modules = 3,
    /// [`Record::Stacks`]
    Stacks = 4,
    /// [`Record::Events`]
    Events = 5,
    /// [`Record::Rss`]
    Rss = 6,
    /// [`Record::End`]
    End = 7,
}

impl BlockKind {
    /// The kind for a byte read from a file, if it is one.
    pub fn from_byte(byte: u8) -> Option<Self> {
        use BlockKind::*;
        [Meta, SegmentStart, Modules, Stacks, Events, Rss, End]
            .into_iter()
            .find(|kind| *kind as u8 == byte)
    }
}

pub(crate) fn encode_meta(out: &mut Vec<u8>, meta: &Meta) {
    put_u64(out, meta.pid.into());
    put_u64(out, meta.start_unix_ms);
    put_bytes(out, meta.exe.as_bytes());
    put_u64(out, meta.args.len() as u64);
    for arg in &meta.args {
        put_bytes(out, arg.as_bytes());
    }
    put_bytes(out, meta.unwind.as_bytes());
    put_u64(out, meta.max_frames.into());
    put_u64(out, meta.sample_rate);
}

fn decode_meta(cur: &mut Cursor) -> Result<Meta, DecodeError> {
    let pid = cur.u32()?;
    let start_unix_ms = cur.u64()?;
    let exe = cur.string()?;
    let args = (0..cur.len_prefix()?).map(|_| cur.string()).collect::<Result<_, _>>()?;
    let unwind = cur.string()?;
    let max_frames = cur.u32()?;
    // Traces written before sampling existed end here: every allocation is in them.
    let sample_rate = if cur.is_empty() { 0 } else { cur.u64()? };
    Ok(Meta { pid, start_unix_ms, exe, args, unwind, max_frames, sample_rate })
}

pub(crate) fn encode_segment_start(out: &mut Vec<u8>, start: &SegmentStart) {
    put_u64(out, start.index.into());
    put_u64(out, start.time_ns);
    put_u64(out, start.temporary);
    put_u64(out, start.frees);
    put_u64(out, start.stacks.len() as u64);
    for totals in &start.stacks {
        put_u64(out, totals.stack.0.into());
        put_u64(out, totals.live_bytes);
        put_u64(out, totals.live_blocks);
        put_u64(out, totals.alloc_bytes);
        put_u64(out, totals.alloc_blocks);
    }
}

fn decode_segment_start(cur: &mut Cursor) -> Result<SegmentStart, DecodeError> {
    let index = cur.u32()?;
    let time_ns = time(cur)?;
    let temporary = cur.u64()?;
    let frees = cur.u64()?;
    let stacks = (0..cur.len_prefix()?)
        .map(|_| {
            Ok(StackTotals {
                stack: StackId(cur.u32()?),
                live_bytes: cur.u64()?,
                live_blocks: cur.u64()?,
                alloc_bytes: cur.u64()?,
                alloc_blocks: cur.u64()?,
            })
        })
        .collect::<Result<_, DecodeError>>()?;
    Ok(SegmentStart { index, time_ns, temporary, frees, stacks })
}

pub(crate) fn encode_modules(out: &mut Vec<u8>, map: &ModuleMap) {
    put_u64(out, map.time_ns);
    put_u64(out, map.modules.len() as u64);
    for module in &map.modules {
        put_bytes(out, module.path.as_bytes());
        put_u64(out, module.load_bias);
        put_bytes(out, &module.build_id);
        put_u64(out, module.ranges.len() as u64);
        for range in &module.ranges {
            put_u64(out, range.start);
            put_u64(out, range.end - range.start);
        }
    }
}

fn decode_modules(cur: &mut Cursor) -> Result<ModuleMap, DecodeError> {
    let time_ns = time(cur)?;
    let modules = (0..cur.len_prefix()?)
        .map(|_| {
            let path = cur.string()?;
            let load_bias = cur.u64()?;
            let build_id = cur.bytes()?.to_vec();
            let ranges = (0..cur.len_prefix()?)
                .map(|_| {
                    let start = cur.u64()?;
                    Ok(start..start.saturating_add(cur.u64()?))
                })
                .collect::<Result<_, DecodeError>>()?;
            Ok(Module { path, load_bias, build_id, ranges })
        })
        .collect::<Result<_, DecodeError>>()?;
    Ok(ModuleMap { time_ns, modules })
}

pub(crate) fn encode_stacks(out: &mut Vec<u8>, stacks: &[StackDef]) {
    put_u64(out, stacks.len() as u64);
    for stack in stacks {
        put_u64(out, stack.id.0.into());
        put_u64(out, stack.frames.len() as u64);
        let mut previous = 0u64;
        for &frame in &stack.frames {
            put_i64(out, frame.wrapping_sub(previous) as i64);
            previous = frame;
        }
    }
}

fn decode_stacks(cur: &mut Cursor) -> Result<Vec<StackDef>, DecodeError> {
    (0..cur.len_prefix()?)
        .map(|_| {
            let id = StackId(cur.u32()?);
            let mut previous = 0u64;
            let frames = (0..count_at_most(cur, "frames", MAX_STACK_FRAMES)?)
                .map(|_| {
                    previous = previous.wrapping_add(cur.i64()? as u64);
                    Ok(previous)
                })
                .collect::<Result<_, DecodeError>>()?;
            Ok(StackDef { id, frames })
        })
        .collect()
}

/// Encodes one thread's events. Takes a slice rather than an [`EventBatch`] so the
/// recorder can encode straight from its buffers without copying.
///
/// The payload is columnar: all stack ids (with the kind in their low two bits), then
/// all time deltas, then all sizes. Each column is a run of similar small numbers,
/// which zstd compresses to about 70% of the size of interleaved events, in a third of
/// the time.
pub(crate) fn encode_events(out: &mut Vec<u8>, thread: ThreadId, events: &[Event]) {
    put_u64(out, thread.0.into());
    put_u64(out, events.len() as u64);
    // Times are stored in the coarsest unit that loses nothing: a recorder that keeps
    // microseconds gets small, repetitive deltas.
    let unit = if events.iter().all(|e| e.time_ns % 1000 == 0) { 1000 } else { 1 };
    put_u64(out, unit);
    let mut stacks = Vec::new();
    put_all(&mut stacks, events.iter().map(|e| (u64::from(e.stack.0) << 2) | e.kind as u64));
    let mut times = Vec::new();
    // A constant divisor: this runs for every event the recorder writes.
    match unit {
        1000 => put_time_deltas(&mut times, events, |ns| ns / 1000),
        _ => put_time_deltas(&mut times, events, |ns| ns),
    }
    put_u64(out, stacks.len() as u64);
    put_u64(out, times.len() as u64);
    out.extend_from_slice(&stacks);
    out.extend_from_slice(&times);
    put_all(out, events.iter().map(|e| e.size));
}

/// The time column: each event's time in the unit `scale` gives, less the one before.
fn put_time_deltas(out: &mut Vec<u8>, events: &[Event], scale: impl Fn(u64) -> u64) {
    let mut previous = 0u64;
    let deltas = events.iter().map(|e| {
        let time = scale(e.time_ns);
        let delta = time.wrapping_sub(previous) as i64;
        previous = time;
        zigzag(delta)
    });
    put_all(out, deltas);
}

fn decode_events(cur: &mut Cursor) -> Result<EventBatch, DecodeError> {
    let (thread, count, mut columns) = decode_events_head(cur)?;
    let payload = cur.data();
    // The count is at most MAX_BLOCK_EVENTS: room for all of them at once, rather than
    // doubling up to it.
    let mut events = Vec::with_capacity(count);
    for _ in 0..count {
        events.push(columns.next_event(payload)?);
    }
    columns.finish(payload)?;
    cur.skip_to_end();
    Ok(EventBatch { thread, events })
}

/// Where each column of an events payload is read next.
#[derive(Clone, Debug)]
pub(crate) struct EventColumns {
    unit: u64,
    previous: u64,
    stacks: usize,
    times_start: usize,
    times: usize,
    sizes_start: usize,
    sizes: usize,
}

/// The thread, the event count, and the columns that follow them.
pub(crate) fn decode_events_head(
    cur: &mut Cursor,
) -> Result<(ThreadId, usize, EventColumns), DecodeError> {
    let thread = ThreadId(cur.u32()?);
    let count = count_at_most(cur, "events", MAX_BLOCK_EVENTS)?;
    let unit = match cur.u64()? {
        unit @ (1 | 1000) => unit,
        other => return Err(DecodeError::BadTimeUnit(other)),
    };
    let stacks_len = cur.len_prefix()?;
    let times_len = cur.len_prefix()?;
    let stacks = cur.position();
    let times_start = stacks + stacks_len;
    let sizes_start = times_start + times_len;
    if sizes_start > cur.data().len() {
        return Err(DecodeError::LengthTooLarge(sizes_start as u64));
    }
    let columns = EventColumns {
        unit,
        previous: 0,
        stacks,
        times_start,
        times: times_start,
        sizes_start,
        sizes: sizes_start,
    };
    Ok((thread, count, columns))
}

impl EventColumns {
    /// The next event, one value from each column; no column may run into the next.
    pub(crate) fn next_event(&mut self, payload: &[u8]) -> Result<Event, DecodeError> {
        let mut stacks = Cursor::at(&payload[..self.times_start], self.stacks);
        let stack_and_kind = stacks.u64()?;
        self.stacks = stacks.position();
        let mut times = Cursor::at(&payload[..self.sizes_start], self.times);
        self.previous = add_delta(self.previous, times.i64()?)?;
        self.times = times.position();
        let mut sizes = Cursor::at(payload, self.sizes);
        let size = at_most("size", sizes.u64()?, MAX_EVENT_SIZE)?;
        self.sizes = sizes.position();
        let tag = (stack_and_kind & 3) as u8;
        let kind = EventKind::from_tag(tag).ok_or(DecodeError::BadEventKind(tag))?;
        let stack =
            StackId(u32::try_from(stack_and_kind >> 2).map_err(|_| DecodeError::ValueTooLarge)?);
        let time_ns = self.previous.saturating_mul(self.unit);
        Ok(Event { time_ns: at_most("time", time_ns, MAX_TIME_NS)?, kind, size, stack })
    }

    /// After the last event: every column must be used up exactly.
    pub(crate) fn finish(&self, payload: &[u8]) -> Result<(), DecodeError> {
        let exact = self.stacks == self.times_start
            && self.times == self.sizes_start
            && self.sizes == payload.len();
        if exact {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes)
        }
    }
}

pub(crate) fn encode_rss(out: &mut Vec<u8>, samples: &[RssSample]) {
    put_u64(out, samples.len() as u64);
    let mut previous = 0u64;
    for sample in samples {
        put_i64(out, sample.time_ns.wrapping_sub(previous) as i64);
        previous = sample.time_ns;
        put_u64(out, sample.rss_bytes);
    }
}

fn decode_rss(cur: &mut Cursor) -> Result<Vec<RssSample>, DecodeError> {
    let mut previous = 0u64;
    (0..count_at_most(cur, "samples", MAX_BLOCK_SAMPLES)?)
        .map(|_| {
            previous = add_delta(previous, cur.i64()?)?;
            Ok(RssSample {
                time_ns: previous,
                rss_bytes: at_most("size", cur.u64()?, MAX_EVENT_SIZE)?,
            })
        })
        .collect()
}

pub(crate) fn encode_end(out: &mut Vec<u8>, end: &End) {
    put_u64(out, end.time_ns);
    let (tag, signal) = match end.reason {
        EndReason::Exit => (0, 0),
        EndReason::ImmediateExit => (1, 0),
        EndReason::Exec => (2, 0),
        EndReason::Signal(signal) => (3, signal),
    };
    put_u64(out, tag);
    put_i64(out, signal.into());
    put_u64(out, end.peak_rss_bytes);
    put_u64(out, end.dropped_events);
    if let Some(t) = &end.totals {
        let fields = [
            t.allocations,
            t.frees,
            t.temporary,
            t.bytes_allocated,
            t.leaked_blocks,
            t.leaked_bytes,
            t.peak_bytes,
            t.peak_time_ns,
            t.threads,
        ];
        fields.into_iter().for_each(|value| put_u64(out, value));
        encode_thread_names(out, &end.threads);
    }
}

/// The thread names after the totals; none are written for a trace that has none, so
/// such an end record reads as before.
fn encode_thread_names(out: &mut Vec<u8>, threads: &[ThreadName]) {
    if threads.is_empty() {
        return;
    }
    put_u64(out, threads.len() as u64);
    for thread in threads {
        put_u64(out, thread.thread.0.into());
        put_bytes(out, thread.name.as_bytes());
    }
}

/// The thread names after the totals, if any: at most [`MAX_THREAD_NAMES`] of at most
/// [`MAX_THREAD_NAME_LEN`] bytes each.
fn decode_thread_names(cur: &mut Cursor) -> Result<Vec<ThreadName>, DecodeError> {
    if cur.is_empty() {
        return Ok(Vec::new());
    }
    (0..count_at_most(cur, "thread names", MAX_THREAD_NAMES)?)
        .map(|_| {
            let thread = ThreadId(cur.u32()?);
            let name = cur.bytes()?;
            at_most("thread name length", name.len() as u64, MAX_THREAD_NAME_LEN)?;
            let name = String::from_utf8_lossy(name).into_owned();
            Ok(ThreadName { thread, name })
        })
        .collect()
}

/// The totals after an end record's fixed fields; version 2 traces have none.
fn decode_run_totals(cur: &mut Cursor) -> Result<Option<RunTotals>, DecodeError> {
    if cur.is_empty() {
        return Ok(None);
    }
    Ok(Some(RunTotals {
        allocations: cur.u64()?,
        frees: cur.u64()?,
        temporary: cur.u64()?,
        bytes_allocated: cur.u64()?,
        leaked_blocks: cur.u64()?,
        leaked_bytes: cur.u64()?,
        peak_bytes: cur.u64()?,
        peak_time_ns: time(cur)?,
        threads: cur.u64()?,
    }))
}

fn decode_end(cur: &mut Cursor) -> Result<End, DecodeError> {
    let time_ns = time(cur)?;
    let tag = cur.u64()?;
    let signal = i32::try_from(cur.i64()?).map_err(|_| DecodeError::ValueTooLarge)?;
    let reason = match tag {
        0 => EndReason::Exit,
        1 => EndReason::ImmediateExit,
        2 => EndReason::Exec,
        3 => EndReason::Signal(signal),
        _ => return Err(DecodeError::BadEndReason(tag)),
    };
    let peak_rss_bytes = cur.u64()?;
    let dropped_events = cur.u64()?;
    let totals = decode_run_totals(cur)?;
    let threads = if totals.is_some() { decode_thread_names(cur)? } else { Vec::new() };
    Ok(End { time_ns, reason, peak_rss_bytes, dropped_events, totals, threads })
}

/// Decodes a whole payload; trailing bytes mean the block is not what its kind says.
pub(crate) fn decode(kind: BlockKind, payload: &[u8]) -> Result<Record, DecodeError> {
    let mut cur = Cursor::new(payload);
    let record = match kind {
        BlockKind::Meta => Record::Meta(decode_meta(&mut cur)?),
        BlockKind::SegmentStart => Record::SegmentStart(decode_segment_start(&mut cur)?),
        BlockKind::Modules => Record::Modules(decode_modules(&mut cur)?),
        BlockKind::Stacks => Record::Stacks(decode_stacks(&mut cur)?),
        BlockKind::Events => Record::Events(decode_events(&mut cur)?),
        BlockKind::Rss => Record::Rss(decode_rss(&mut cur)?),
        BlockKind::End => Record::End(decode_end(&mut cur)?),
    };
    if !cur.is_empty() {
        return Err(DecodeError::TrailingBytes);
    }
    Ok(record)
}
