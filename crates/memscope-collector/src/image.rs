//! One recorded process image (a process between two `exec`s): its capture area drained
//! into its trace.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use memscope_agent::area::{self, Kind, THREAD_ACTIVE, THREAD_CLOSED, THREAD_FREE};
use memscope_agent::control::{self, Record};
use memscope_format::{
    End, EndReason, Event, EventKind, Meta, Module, RssSample, StackDef, StackId, ThreadId,
    ThreadName,
};

use crate::destination::Destination;
use crate::live_blocks::Block;
use crate::mapping::Mapping;
use crate::pairing::Pairing;
use crate::stream::{Next, Reading, Stream};
use crate::trace_thread::TraceThread;

/// Events one stream may take in a row before the others get their turn.
const TURN: usize = 4096;
/// How many events ahead of the one applied the live table's line for an event's
/// address is prefetched: enough for a trip to memory to finish meanwhile.
const LOOKUPS_AHEAD: usize = 8;
/// Events one pass takes at most, so the clock and heartbeat keep moving.
const PASS: usize = 1 << 16;
/// A batch is written once it holds this many events…
const BATCH_EVENTS: usize = 8192;
/// …or once its oldest event is this old (nanoseconds).
const BATCH_AGE_NS: u64 = 100_000_000;
/// How often the chunks threads are still writing are read: the rest of the time only
/// chunks they have filled are, so that the collector and the program do not pass the
/// same cache lines back and forth.
const SWEEP_NS: u64 = 20_000_000;
/// How long after an event's time its bucket of the heap curve is read: a thread that
/// read the clock and is held longer than this before it publishes gets a later time.
const CURVE_MARGIN_NS: u64 = 1_000_000_000;
/// How far the curve's horizon moves before the writing thread is told (each message
/// wakes it): a quiet program's collector would otherwise wake it at every step.
const CURVE_STEP_NS: u64 = 10_000_000;

/// How a recorded image ended, as the collector learned it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The process replaced this image by `exec`.
    Exec,
    /// The process is gone; its wait status, if the collector is its parent.
    Gone(Option<EndReason>),
}

/// What the collector counted while it drained an image.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DrainStats {
    /// Frees of memory never seen allocated.
    pub untracked_frees: u64,
    /// Slots reserved but never published (their thread died mid-call).
    pub lost_slots: u64,
    /// Events skipped in a stripe's order because they never came.
    pub skipped: u64,
    /// Slots whose kind byte was damaged.
    pub damaged_slots: u64,
    /// Stack captures of threads that ended, and memo hits among them.
    pub captures: (u64, u64),
}

/// What draining an image to its end gave.
#[derive(Debug)]
pub struct Finished {
    /// What the collector counted.
    pub stats: DrainStats,
    /// Why writing stopped early, if it did.
    pub write_error: Option<String>,
    /// The state after every event (`None` if the recorder never described the process).
    pub last: Option<crate::live::LiveSnapshot>,
    /// The end record written (its totals are the trace's own).
    pub end: End,
}

/// A recorded image being drained.
pub struct Image {
    mapping: Mapping,
    destination: Option<Destination>,
    out: Option<TraceThread>,
    streams: Vec<Stream>,
    /// Stream index of each thread record, if it has one.
    by_record: Vec<Option<usize>>,
    pairing: Pairing,
    log: Vec<u8>,
    meta: Option<Meta>,
    modules: Vec<Module>,
    /// Each thread's name as last logged, by thread id.
    thread_names: BTreeMap<u32, String>,
    stats: DrainStats,
    clock_ns: u64,
    /// When the chunks threads are still writing were last read (clock, nanoseconds).
    swept_ns: u64,
    /// Whether a stream waits for an event of its stripe that another stream holds,
    /// which may be in a chunk still being written.
    waiting: bool,
    /// The curve's horizon last sent to the writing thread.
    horizon_sent_ns: u64,
}

impl Image {
    /// Drains `mapping` into a trace written to `destination`.
    pub fn new(mapping: Mapping, destination: Destination) -> Image {
        Image {
            mapping,
            destination: Some(destination),
            out: None,
            streams: Vec::new(),
            by_record: vec![None; area::MAX_THREADS],
            pairing: Pairing::new(),
            log: Vec::new(),
            meta: None,
            modules: Vec::new(),
            thread_names: BTreeMap::new(),
            stats: DrainStats::default(),
            clock_ns: 0,
            swept_ns: 0,
            waiting: false,
            horizon_sent_ns: 0,
        }
    }

    /// The recorded process.
    pub fn pid(&self) -> u32 {
        self.mapping.area().header().pid.load(Ordering::Relaxed)
    }

    /// The command line, once the recorder described the process.
    pub fn command(&self) -> Option<&[String]> {
        self.meta.as_ref().map(|meta| meta.args.as_slice())
    }

    /// A handle for the live endpoint, once the recorder described the process.
    pub fn live_handle(&self) -> Option<crate::live::LiveHandle> {
        self.out.as_ref().map(TraceThread::live_handle)
    }

    /// Whether the recorder says the process is calling `exec`.
    pub fn exec_pending(&self) -> bool {
        self.mapping.area().header().state.load(Ordering::Acquire) == area::STATE_EXEC
    }

    /// Advances the area's clock and beats its heartbeat; `now_ns` is `CLOCK_MONOTONIC`.
    pub fn tick(&mut self, now_ns: u64) {
        let header = self.mapping.area().header();
        let start = header.start_ns.load(Ordering::Relaxed);
        self.clock_ns = now_ns.saturating_sub(start) / 1000 * 1000;
        header.clock_ns.store(self.clock_ns, Ordering::Relaxed);
        header.heartbeat_ns.store(now_ns, Ordering::Relaxed);
    }

    /// Adds a resident-memory sample taken now.
    pub fn sample_rss(&mut self, rss_bytes: u64) {
        if let Some(out) = &self.out {
            out.push_rss(RssSample { time_ns: self.clock_ns, rss_bytes });
        }
    }

    /// Reads what the recorder published. With `ended`, its process can publish nothing
    /// more: gaps are skipped and everything is written. Returns whether it did anything.
    pub fn pass(&mut self, ended: bool) -> bool {
        self.read_log();
        self.discover_threads();
        // A snapshot asked for: everything published so far must be read and written.
        let asked = self.out.as_ref().map_or(0, |out| out.freshness.asked.load(Ordering::Acquire));
        let catch_up = asked
            > self.out.as_ref().map_or(0, |out| out.freshness.caught_up.load(Ordering::Relaxed));
        let reading = if ended {
            Reading::Ended
        } else if catch_up
            || self.waiting
            || self.clock_ns.saturating_sub(self.swept_ns) >= SWEEP_NS
        {
            self.swept_ns = self.clock_ns;
            Reading::Published
        } else {
            Reading::Full
        };
        self.waiting = false;
        let mut taken = 0;
        loop {
            let mut round = 0;
            for index in 0..self.streams.len() {
                round += self.run(index, reading);
            }
            taken += round;
            if round == 0 && !(ended && self.skip_gap()) || taken >= PASS {
                break;
            }
        }
        self.write_batches(ended || catch_up);
        self.retire_threads(ended);
        self.close_curve(ended, catch_up);
        if catch_up && taken < PASS {
            if let Some(out) = &self.out {
                out.freshness.caught_up.store(asked, Ordering::Release);
            }
        }
        taken > 0
    }

    fn read_log(&mut self) {
        let area = *self.mapping.area();
        let head = area.log_read(&mut self.log);
        let (records, used, damaged) = control::decode_records(&self.log);
        self.log.drain(..used);
        if damaged {
            self.log.clear();
        }
        area.log_consumed(head - self.log.len() as u64);
        for record in records {
            self.take_record(record);
        }
    }

    fn take_record(&mut self, record: Record) {
        match record {
            Record::Meta(record) => {
                let header = self.mapping.area().header();
                let meta = Meta {
                    pid: header.pid.load(Ordering::Relaxed),
                    start_unix_ms: header.start_unix_ms.load(Ordering::Relaxed),
                    exe: record.exe,
                    args: record.args,
                    unwind: record.unwind,
                    max_frames: record.max_frames,
                    sample_rate: header.sample_rate.load(Ordering::Relaxed),
                };
                if let Some(destination) = self.destination.take() {
                    self.out = Some(TraceThread::start(destination, meta.clone()));
                }
                self.meta = Some(meta);
            }
            Record::Modules(modules) => {
                self.modules = modules
                    .into_iter()
                    .map(|m| Module {
                        path: m.path,
                        load_bias: m.load_bias,
                        build_id: m.build_id,
                        ranges: m.ranges,
                    })
                    .collect();
                if let Some(out) = &self.out {
                    out.set_modules(self.modules.clone());
                }
            }
            Record::Stack(id, frames) => {
                if let Some(out) = &self.out {
                    out.define_stack(StackDef { id: StackId(id), frames });
                }
            }
            Record::ThreadName(tid, name) => {
                self.thread_names.insert(tid, name);
            }
        }
    }

    fn discover_threads(&mut self) {
        let area = *self.mapping.area();
        let high =
            (area.header().threads_high.load(Ordering::Acquire) as usize).min(area::MAX_THREADS);
        for record in 0..high {
            if self.by_record[record].is_some() {
                continue;
            }
            let thread = area.thread(record);
            let state = thread.state.load(Ordering::Acquire);
            if state == THREAD_ACTIVE || state == THREAD_CLOSED {
                self.by_record[record] = Some(self.streams.len());
                self.streams.push(Stream::new(record, thread.tid.load(Ordering::Relaxed)));
            }
        }
    }

    /// Applies stream `index`'s events while each is next in its stripe; how many.
    fn run(&mut self, index: usize, reading: Reading) -> usize {
        let area = *self.mapping.area();
        let closed =
            area.thread(self.streams[index].record).state.load(Ordering::Acquire) == THREAD_CLOSED;
        let reading = if closed { Reading::Ended } else { reading };
        let mut taken = 0;
        while taken < TURN {
            let event = match self.streams[index].peek(&area, reading) {
                Next::Event(event) => event,
                Next::Nothing => break,
                Next::Damaged => {
                    self.stats.damaged_slots += 1;
                    self.streams[index].advance();
                    continue;
                }
            };
            if event.kind.is_ordered() {
                if !self.pairing.is_next(event.w0, event.seq) {
                    self.waiting = true;
                    break;
                }
                self.pairing.take_turn(event.w0, event.seq);
            }
            self.prefetch_ahead(&area, index);
            self.apply(index, event);
            self.streams[index].advance();
            taken += 1;
        }
        taken
    }

    /// Starts loading the live table's line for the address of an event a little ahead
    /// in stream `index`, read from its slot (a hint, whatever the slot holds).
    fn prefetch_ahead(&self, area: &area::Area, index: usize) {
        if let Some(slot) = self.streams[index].slot_ahead(area, LOOKUPS_AHEAD) {
            self.pairing.prefetch(slot.w0.load(Ordering::Relaxed));
        }
    }

    fn apply(&mut self, index: usize, event: area::Event) {
        let stream = &mut self.streams[index];
        let address = event.w0;
        match event.kind {
            Kind::Tick => stream.time_ns = stream.time_ns.max(event.w0),
            Kind::LargeSize => stream.large_size = Some(event.w0),
            Kind::Alloc => {
                let size = stream.large_size.take().unwrap_or(event.size);
                alloc(&mut self.pairing, stream, address, size, event.stack);
            }
            Kind::Free => free(&mut self.pairing, stream, address),
            Kind::ReallocFree => {
                stream.pending_realloc = Some((address, self.pairing.free(address)))
            }
            Kind::ReallocAlloc => {
                if let Some((old, Some(block))) = stream.pending_realloc.take() {
                    push_free(stream, old, block);
                }
                let size = stream.large_size.take().unwrap_or(event.size);
                alloc(&mut self.pairing, stream, address, size, event.stack);
            }
            Kind::ReallocFailed => {
                if let Some((old, Some(block))) = stream.pending_realloc.take() {
                    self.pairing.restore(old, block);
                }
            }
            Kind::ReallocUnsampled => {
                if let Some((old, Some(block))) = stream.pending_realloc.take() {
                    push_free(stream, old, block);
                }
            }
        }
    }

    /// The process is gone and every stream waits for an event of its stripe that will
    /// never come: skips the smallest such gap.
    fn skip_gap(&mut self) -> bool {
        let area = *self.mapping.area();
        let mut best: Option<(u32, u64, u32)> = None;
        for stream in &mut self.streams {
            if let Next::Event(event) = stream.peek(&area, Reading::Ended) {
                let distance = self.pairing.distance(event.w0, event.seq);
                if event.kind.is_ordered() && best.is_none_or(|(d, _, _)| distance < d) {
                    best = Some((distance, event.w0, event.seq));
                }
            }
        }
        let Some((distance, address, seq)) = best else { return false };
        self.stats.skipped += u64::from(distance);
        self.pairing.skip_to(address, seq);
        true
    }

    /// Writes the batches that are full or old enough (all of them with `all`).
    fn write_batches(&mut self, all: bool) {
        let due = |stream: &Stream, clock: u64| {
            let oldest = stream.batch.first().map_or(u64::MAX, |e| e.time_ns);
            !stream.batch.is_empty()
                && (all
                    || stream.batch.len() >= BATCH_EVENTS
                    || clock.saturating_sub(oldest) > BATCH_AGE_NS)
        };
        if !self.streams.iter().any(|stream| due(stream, self.clock_ns)) {
            return;
        }
        // Stacks the batches use were logged before their events were published.
        self.read_log();
        let Some(out) = &self.out else { return };
        for stream in &mut self.streams {
            if due(stream, self.clock_ns) {
                out.write_events(ThreadId(stream.tid), &mut stream.batch, self.clock_ns);
            }
        }
    }

    /// Frees the records of threads that ended once their events are all in.
    fn retire_threads(&mut self, ended: bool) {
        if ended {
            return;
        }
        let area = *self.mapping.area();
        for index in 0..self.streams.len() {
            let stream = &mut self.streams[index];
            let record = area.thread(stream.record);
            let closed = record.state.load(Ordering::Acquire) == THREAD_CLOSED;
            if !closed
                || !stream.batch.is_empty()
                || !matches!(stream.peek(&area, Reading::Ended), Next::Nothing)
            {
                continue;
            }
            if let Some((old, Some(block))) = stream.pending_realloc.take() {
                self.pairing.restore(old, block);
            }
            stream.release(&area);
            self.stats.lost_slots += stream.lost;
            self.by_record[stream.record] = None;
            record.state.store(THREAD_FREE, Ordering::Release);
            self.streams[index].record = usize::MAX;
        }
        self.streams.retain(|stream| stream.record != usize::MAX);
        for (index, stream) in self.streams.iter().enumerate() {
            self.by_record[stream.record] = Some(index);
        }
    }

    /// Reads the heap curve's buckets that no event can join any more, once the horizon
    /// moved on by a step (at once with `now`: a snapshot was asked for).
    fn close_curve(&mut self, ended: bool, now: bool) {
        let Some(out) = &self.out else { return };
        if ended {
            return;
        }
        let pending = self
            .streams
            .iter()
            .flat_map(|s| s.batch.first().map(|e| e.time_ns).into_iter().chain([s.time_ns]));
        let horizon = pending.fold(self.clock_ns.saturating_sub(CURVE_MARGIN_NS), u64::min);
        if now || horizon >= self.horizon_sent_ns + CURVE_STEP_NS {
            self.horizon_sent_ns = horizon;
            out.close_curve(self.clock_ns, horizon);
        }
    }

    /// Writes the end record; returns what was counted. `peak_rss_bytes` is the peak
    /// RSS as known from outside the process, for a process that died without the
    /// recorder reading its own VmHWM at exit.
    pub fn finish(mut self, ending: Ending, peak_rss_bytes: u64) -> Finished {
        while self.pass(true) {}
        self.read_log();
        let area = *self.mapping.area();
        let header = area.header();
        let state = header.state.load(Ordering::Acquire);
        let reason = match ending {
            Ending::Exec => EndReason::Exec,
            _ if state == area::STATE_EXEC => EndReason::Exec,
            Ending::Gone(status) if state == area::STATE_ENDED => {
                match header.end_reason.load(Ordering::Relaxed) {
                    area::END_IMMEDIATE => EndReason::ImmediateExit,
                    _ => status
                        .filter(|s| matches!(s, EndReason::Signal(_)))
                        .unwrap_or(EndReason::Exit),
                }
            }
            Ending::Gone(status) => status.unwrap_or(EndReason::Signal(0)),
        };
        let last_event = self.streams.iter().map(|s| s.time_ns).max().unwrap_or(0);
        let end_ns = match header.end_ns.load(Ordering::Relaxed) {
            0 => self.clock_ns,
            at => at / 1000 * 1000,
        }
        .max(last_event);
        let lost = self.streams.iter().map(|s| s.lost).sum::<u64>();
        self.stats.lost_slots += lost;
        self.stats.untracked_frees = self.pairing.untracked_frees;
        self.stats.captures =
            (header.captures.load(Ordering::Relaxed), header.memo_hits.load(Ordering::Relaxed));
        let dropped =
            header.dropped.load(Ordering::Relaxed) + self.stats.lost_slots + self.stats.skipped;
        let peak = match header.peak_rss_bytes.load(Ordering::Relaxed) {
            0 => peak_rss_bytes,
            at_exit => at_exit,
        };
        let end = End {
            time_ns: end_ns,
            reason,
            peak_rss_bytes: peak,
            dropped_events: dropped,
            totals: None,
            threads: self.thread_names(),
        };
        let Some(out) = self.out.take() else {
            return Finished { stats: self.stats, write_error: None, last: None, end };
        };
        // The last state, for a recording that keeps no trace (`--mode live`).
        let last = out.live_handle().snapshot_written();
        let write_error = out.finish(end.clone());
        Finished { stats: self.stats, write_error, last, end }
    }

    /// The names logged, by thread id.
    fn thread_names(&mut self) -> Vec<ThreadName> {
        let names = std::mem::take(&mut self.thread_names);
        names.into_iter().map(|(tid, name)| ThreadName { thread: ThreadId(tid), name }).collect()
    }

    /// Whether the recorder set the area up (its log then holds the meta record).
    pub fn is_described(&self) -> bool {
        self.meta.is_some()
    }
}

fn alloc(pairing: &mut Pairing, stream: &mut Stream, address: u64, size: u64, stack: u32) {
    pairing.alloc(address, Block { size, stack });
    stream.last_alloc = address;
    stream.batch.push(Event {
        time_ns: stream.time_ns,
        size,
        stack: StackId(stack),
        kind: EventKind::Alloc,
    });
}

fn free(pairing: &mut Pairing, stream: &mut Stream, address: u64) {
    if let Some(block) = pairing.free(address) {
        push_free(stream, address, block);
    }
}

/// A free of `block`, temporary if it was the thread's latest allocation.
fn push_free(stream: &mut Stream, address: u64, block: Block) {
    let kind = if stream.last_alloc == address {
        stream.last_alloc = 0;
        EventKind::FreeTemporary
    } else {
        EventKind::Free
    };
    stream.batch.push(Event {
        time_ns: stream.time_ns,
        size: block.size,
        stack: StackId(block.stack),
        kind,
    });
}
