//! The writer thread: drains the per-thread buffers, interleaves stack and module
//! definitions ahead of the events that use them, samples RSS, compresses, and cuts
//! the trace into segments.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::thread::Thread;
use std::time::{Duration, Instant};

use memscope_format::{
    End, EndReason, Event, EventKind, Meta, ModuleMap, RssSample, RunTotals, SegmentStart,
    StackTotals, ThreadId, TraceWriter,
};

use crate::buffer::{RawEvent, RawKind};
use crate::config::Config;
use crate::guard::Guard;
use crate::heap_curve::HeapCurve;
use crate::live_table::{self, Block};
use crate::{buffer, clock, modules, pairing, recorder, stacks, unwind};

static RUNNING: AtomicBool = AtomicBool::new(false);
static THREAD: OnceLock<Thread> = OnceLock::new();
/// Requests (see [`Request`]): a sequence number in the high half, the encoded request
/// below.
static REQUEST: AtomicU64 = AtomicU64::new(0);
static REQUEST_SEQ: AtomicU64 = AtomicU64::new(0);
static DONE_SEQ: AtomicU64 = AtomicU64::new(0);

/// How long a thread waits for the writer to catch up before it goes on regardless.
const SYNC_TIMEOUT: Duration = Duration::from_secs(10);
/// Every sweep copies idle threads' events, so a `kill -9` loses at most this much.
const SWEEP_INTERVAL: Duration = Duration::from_millis(50);
const RSS_INTERVAL: Duration = Duration::from_millis(10);
/// Events per segment: small enough that segments decode in parallel, large enough
/// that their headers (the full stack table) stay a small share of the file.
const SEGMENT_EVENTS: u64 = 1 << 21;
const ZSTD_LEVEL: i32 = 1;
/// How far behind a sweep the heap curve is read: an event reaches the writer later
/// than its timestamp only if its thread was preempted between taking the time and
/// publishing the event, for far less than this.
const CURVE_MARGIN_US: u64 = 50_000;

pub(crate) fn is_running() -> bool {
    RUNNING.load(Ordering::Relaxed)
}

/// Nudges the writer: a chunk is full.
pub(crate) fn wake() {
    if let Some(thread) = THREAD.get() {
        thread.unpark();
    }
}

/// After fork, in the child: there is no writer thread to wait for.
pub(crate) fn forget() {
    RUNNING.store(false, Ordering::Relaxed);
}

/// What a program thread asks of the writer.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Request {
    /// Write everything buffered and an end block.
    End(EndReason),
    /// Write (and so pair) everything buffered so far.
    Sync,
}

fn encode(request: Request) -> u64 {
    match request {
        Request::End(EndReason::Exit) => 1,
        Request::End(EndReason::ImmediateExit) => 2,
        Request::End(EndReason::Exec) => 3,
        Request::End(EndReason::Signal(signal)) => 4 | ((signal as u64 & 0xff) << 8),
        Request::Sync => 5,
    }
}

fn decode(code: u64) -> Option<Request> {
    match code & 0xff {
        1 => Some(Request::End(EndReason::Exit)),
        2 => Some(Request::End(EndReason::ImmediateExit)),
        3 => Some(Request::End(EndReason::Exec)),
        4 => Some(Request::End(EndReason::Signal(((code >> 8) & 0xff) as i32))),
        5 => Some(Request::Sync),
        _ => None,
    }
}

/// Asks the writer to write everything buffered and an end block, and waits for it.
/// Only atomics, unpark and sleep: this runs in signal handlers too.
pub(crate) fn finish(reason: EndReason, timeout: Duration) {
    ask(Request::End(reason), timeout);
}

/// Waits until the writer has written everything published so far (at most
/// [`SYNC_TIMEOUT`]). Not on the writer thread.
pub(crate) fn sync() {
    ask(Request::Sync, SYNC_TIMEOUT);
}

fn ask(request: Request, timeout: Duration) {
    if !is_running() {
        return;
    }
    let seq = REQUEST_SEQ.fetch_add(1, Ordering::AcqRel) + 1;
    REQUEST.store((seq << 32) | encode(request), Ordering::Release);
    let deadline = Instant::now() + timeout;
    while DONE_SEQ.load(Ordering::Acquire) < seq && is_running() && Instant::now() < deadline {
        // Woken on every round: a writer that was still starting up may have missed
        // the first one.
        wake();
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Creates the trace file (owner-only) and starts the writer thread.
pub(crate) fn start(config: &Config) -> Result<(), String> {
    let (file, path) = create_trace_file(&config.output)?;
    let meta = Meta {
        pid: std::process::id(),
        start_unix_ms: clock::unix_ms(),
        exe: std::fs::read_link("/proc/self/exe")
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        args: command_line(),
        unwind: config.unwind.name().to_owned(),
        max_frames: config.max_frames as u32,
    };
    let out = TraceWriter::new(file, &meta, ZSTD_LEVEL)
        .map_err(|e| format!("cannot write {path}: {e}"))?;
    RUNNING.store(true, Ordering::Release);
    spawn_writer(Box::new((out, config.stats)))
        .inspect_err(|_| RUNNING.store(false, Ordering::Release))
}

/// Starts the writer with pthread_create rather than std::thread: std runs its own
/// set-up code (which allocates) before our first line, and those allocations would
/// be recorded as the program's.
///
fn spawn_writer(state: Box<(TraceWriter<File>, bool)>) -> Result<(), String> {
    extern "C" fn writer_main(state: *mut libc::c_void) -> *mut libc::c_void {
        Guard::enter_forever();
        let _ = THREAD.set(std::thread::current());
        // SAFETY: the pointer came from Box::into_raw in spawn_writer, given to this
        // thread alone.
        let (out, print_stats) = *unsafe { Box::from_raw(state as *mut (TraceWriter<File>, bool)) };
        clock::tick();
        let mut state = WriterState::new(out, print_stats);
        state.start_segment();
        state.run();
        std::ptr::null_mut()
    }
    let raw = Box::into_raw(state) as *mut libc::c_void;
    // SAFETY: `thread` is written by pthread_create; `raw` is handed to the new thread.
    unsafe {
        let mut thread: libc::pthread_t = 0;
        let err = libc::pthread_create(&mut thread, std::ptr::null(), writer_main, raw);
        if err != 0 {
            drop(Box::from_raw(raw as *mut (TraceWriter<File>, bool)));
            return Err(format!(
                "cannot start the writer thread: {}",
                std::io::Error::from_raw_os_error(err)
            ));
        }
        libc::pthread_detach(thread);
        libc::pthread_setname_np(thread, c"memscope-writer".as_ptr());
    }
    Ok(())
}

/// Opens `pattern` (with `%p` as the pid) exclusively. A name already taken, by an
/// earlier image of this process before `exec` or by a parent, gets `.1`, `.2`, …
fn create_trace_file(pattern: &str) -> Result<(File, String), String> {
    let base = pattern.replace("%p", &std::process::id().to_string());
    let mut last_error = String::new();
    for n in 0..1000 {
        let path = if n == 0 { base.clone() } else { format!("{base}.{n}") };
        let opened = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(&path);
        match opened {
            Ok(file) => return Ok((file, path)),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                last_error = err.to_string()
            }
            Err(err) => return Err(format!("cannot create trace {path}: {err}")),
        }
    }
    Err(format!("cannot create trace {base}: {last_error}"))
}

fn command_line() -> Vec<String> {
    let mut raw = Vec::new();
    let _ = File::open("/proc/self/cmdline").and_then(|mut f| f.read_to_end(&mut raw));
    raw.split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

struct WriterState {
    out: TraceWriter<File>,
    /// Scratch for one batch of trace events.
    batch: Vec<Event>,
    /// Per thread buffer: the sequence number of the chunk to be written next.
    next_chunk: HashMap<u64, u64>,
    failed: bool,
    dropped: u64,
    totals: Vec<StackTotals>,
    frees: u64,
    temporary: u64,
    curve: HeapCurve,
    threads: HashSet<ThreadId>,
    segment_index: u32,
    segment_events: u64,
    stacks_written: usize,
    modules_written: usize,
    loader_generation: u64,
    rss: Vec<RssSample>,
    statm: Option<File>,
    page_size: u64,
    handled_seq: u64,
    print_stats: bool,
}

impl WriterState {
    fn new(out: TraceWriter<File>, print_stats: bool) -> Self {
        WriterState {
            out,
            batch: Vec::new(),
            next_chunk: HashMap::new(),
            failed: false,
            dropped: 0,
            totals: Vec::new(),
            frees: 0,
            temporary: 0,
            curve: HeapCurve::default(),
            threads: HashSet::new(),
            segment_index: 0,
            segment_events: 0,
            stacks_written: 0,
            modules_written: 0,
            loader_generation: u64::MAX,
            rss: Vec::new(),
            statm: File::open("/proc/self/statm").ok(),
            // SAFETY: sysconf has no preconditions.
            page_size: unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64,
            handled_seq: 0,
            print_stats,
        }
    }

    fn run(mut self) {
        let mut next_sweep = Instant::now() + SWEEP_INTERVAL;
        let mut next_rss = Instant::now();
        loop {
            std::thread::park_timeout(clock::TICK);
            clock::tick();
            let request = REQUEST.load(Ordering::Acquire);
            let pending = (request >> 32) > self.handled_seq;
            self.drain_full();
            let now = Instant::now();
            if now >= next_rss {
                self.sample_rss();
                next_rss = now + RSS_INTERVAL;
            }
            if pending || now >= next_sweep {
                self.sweep();
                next_sweep = now + SWEEP_INTERVAL;
            }
            if pending {
                self.handled_seq = request >> 32;
                let reason = match decode(request) {
                    Some(Request::Sync) => {
                        DONE_SEQ.store(self.handled_seq, Ordering::Release);
                        continue;
                    }
                    Some(Request::End(reason)) => reason,
                    None => EndReason::default(),
                };
                self.end(reason);
                let stop = reason != EndReason::Exec;
                if stop {
                    RUNNING.store(false, Ordering::Release);
                }
                DONE_SEQ.store(self.handled_seq, Ordering::Release);
                if stop {
                    return;
                }
            }
        }
    }

    fn drain_full(&mut self) {
        for chunk in buffer::take_full() {
            // Busy with a backlog, the writer still keeps the events' clock going.
            clock::tick();
            let (owner, seq) = chunk.position();
            let (thread, events) = chunk.take_unwritten();
            self.write_raw(thread, events);
            self.next_chunk.insert(owner, seq + 1);
            buffer::recycle(chunk);
        }
    }

    fn sweep(&mut self) {
        let swept_at_us = clock::now_ns() / 1000;
        // Copied under the buffers' lock, written after it: writing takes time, and
        // threads starting meanwhile wait for that lock.
        let mut batches: Vec<(ThreadId, Vec<RawEvent>)> = Vec::new();
        let next_chunk = &self.next_chunk;
        let is_next = |owner, seq| next_chunk.get(&owner).copied().unwrap_or(0) == seq;
        buffer::sweep(is_next, |thread, events| batches.push((thread, events.to_vec())));
        for (thread, batch) in batches {
            self.write_raw(thread, &batch);
        }
        // Full chunks handed over during the sweep hold later events of the same
        // threads: write them now, in order.
        self.drain_full();
        self.curve.close_before(swept_at_us.saturating_sub(CURVE_MARGIN_US));
        if !self.rss.is_empty() {
            let samples = std::mem::take(&mut self.rss);
            self.attempt(|out| out.write_rss(&samples));
        }
    }

    /// Writes one thread's batch of raw events; the solo thread's are paired here.
    fn write_raw(&mut self, thread: ThreadId, raw: &[RawEvent]) {
        if let Some(events) = as_trace_events(raw) {
            return self.write_events(thread, events);
        }
        let mut batch = std::mem::take(&mut self.batch);
        pair_and_convert(raw, &mut batch);
        self.write_events(thread, &batch);
        batch.clear();
        self.batch = batch;
    }

    /// Writes one thread's batch, counting its events into the run's totals.
    fn write_events(&mut self, thread: ThreadId, events: &[Event]) {
        if events.is_empty() {
            return;
        }
        if self.segment_events >= SEGMENT_EVENTS {
            self.start_segment();
        }
        self.write_new_modules();
        self.write_new_stacks();
        // Counted before the write: a failed write ends the recording without an end
        // record, so no reader sees these counts then.
        for event in events.iter() {
            self.count(event, event.time_ns / 1000);
        }
        self.threads.insert(thread);
        self.segment_events += events.len() as u64;
        if !self.attempt(|out| out.write_events(thread, events)) {
            self.dropped += events.len() as u64;
        }
    }

    fn count(&mut self, event: &Event, time_us: u64) {
        let index = event.stack.0 as usize;
        if index >= self.totals.len() {
            self.totals.resize_with(index + 1, StackTotals::default);
        }
        let totals = &mut self.totals[index];
        totals.stack = event.stack;
        match event.kind {
            EventKind::Alloc => {
                self.curve.add(time_us, event.size as i64);
                totals.live_bytes += event.size;
                totals.live_blocks += 1;
                totals.alloc_bytes += event.size;
                totals.alloc_blocks += 1;
            }
            kind => {
                // Wrapping, not saturating: batches are written in the order they are
                // drained, so another thread's free may come before the allocation it
                // claimed, and the sum must still come out right once both are in.
                totals.live_bytes = totals.live_bytes.wrapping_sub(event.size);
                totals.live_blocks = totals.live_blocks.wrapping_sub(1);
                self.curve.add(time_us, (event.size as i64).wrapping_neg());
                self.frees += 1;
                self.temporary += u64::from(kind == EventKind::FreeTemporary);
            }
        }
    }

    /// Opens a segment with everything a reader needs to start there.
    fn start_segment(&mut self) {
        let start = SegmentStart {
            index: self.segment_index,
            time_ns: clock::now_ns(),
            temporary: self.temporary,
            frees: self.frees,
            stacks: self.totals.iter().filter(|t| t.alloc_blocks > 0).cloned().collect(),
        };
        self.segment_index += 1;
        self.segment_events = 0;
        self.attempt(|out| out.write_segment_start(&start));
        self.refresh_modules();
        self.write_modules();
        let stacks = stacks::defined_since(0);
        self.stacks_written = stacks.len();
        if !stacks.is_empty() {
            self.attempt(|out| out.write_stacks(&stacks));
        }
    }

    /// Rescans when the loader's load/unload count moved: this catches libraries
    /// glibc loads internally, which no dlopen hook sees.
    fn refresh_modules(&mut self) {
        let generation = modules::generation();
        if generation != self.loader_generation {
            self.loader_generation = generation;
            unwind::install(modules::scan(), recorder::unwind_mode());
        }
    }

    fn write_modules(&mut self) {
        let map = ModuleMap { time_ns: clock::now_ns(), modules: modules::seen() };
        self.modules_written = map.modules.len();
        self.attempt(|out| out.write_modules(&map));
    }

    fn write_new_modules(&mut self) {
        self.refresh_modules();
        if modules::seen_count() > self.modules_written {
            self.write_modules();
        }
    }

    fn write_new_stacks(&mut self) {
        let stacks = stacks::defined_since(self.stacks_written);
        if !stacks.is_empty() {
            self.stacks_written += stacks.len();
            self.attempt(|out| out.write_stacks(&stacks));
        }
    }

    fn sample_rss(&mut self) {
        let Some(statm) = &self.statm else { return };
        let mut text = [0u8; 128];
        let Ok(len) = statm.read_at(&mut text, 0) else { return };
        let resident = std::str::from_utf8(&text[..len])
            .ok()
            .and_then(|s| s.split_whitespace().nth(1))
            .and_then(|pages| pages.parse::<u64>().ok());
        if let Some(pages) = resident {
            self.rss
                .push(RssSample { time_ns: clock::now_ns(), rss_bytes: pages * self.page_size });
        }
    }

    fn end(&mut self, reason: EndReason) {
        let end = End {
            time_ns: clock::now_ns(),
            reason,
            peak_rss_bytes: peak_rss(),
            dropped_events: self.dropped,
            totals: Some(self.run_totals()),
        };
        self.attempt(|out| out.write_end(&end));
        if self.print_stats {
            let (captures, hits) = unwind::statistics();
            eprintln!(
                "memscope: stack captures {captures} (ended threads), memo hits {hits}, frees without a seen allocation {}, writer CPU {} ms",
                live_table::untracked_frees(),
                thread_cpu_ms()
            );
        }
    }

    /// Everything written so far, summed.
    fn run_totals(&mut self) -> RunTotals {
        // Every event is in: no thread can still publish one older than now.
        self.curve.close_before(clock::now_ns() / 1000 + 1);
        let (peak_bytes, peak_time_us) = self.curve.peak();
        let mut sums = RunTotals {
            frees: self.frees,
            temporary: self.temporary,
            peak_bytes,
            peak_time_ns: peak_time_us * 1000,
            threads: self.threads.len() as u64,
            ..RunTotals::default()
        };
        for stack in &self.totals {
            sums.allocations += stack.alloc_blocks;
            sums.bytes_allocated += stack.alloc_bytes;
            sums.leaked_blocks = sums.leaked_blocks.wrapping_add(stack.live_blocks);
            sums.leaked_bytes = sums.leaked_bytes.wrapping_add(stack.live_bytes);
        }
        sums
    }

    /// Runs one write; after the first failure (disk full, say) nothing more is
    /// written, the loss is counted, and one line says so.
    fn attempt(
        &mut self,
        write: impl FnOnce(&mut TraceWriter<File>) -> Result<(), memscope_format::FormatError>,
    ) -> bool {
        if self.failed {
            return false;
        }
        if let Err(err) = write(&mut self.out) {
            eprintln!(
                "memscope: {err}: {}; the rest of the recording is lost",
                std::io::Error::last_os_error()
            );
            self.failed = true;
            return false;
        }
        true
    }
}

/// CPU time (user and system) of the calling thread: the writer's share of the
/// recorder's cost, which `perf` would otherwise be needed for.
fn thread_cpu_ms() -> u64 {
    // SAFETY: getrusage writes the struct it is given; all-zero is a valid rusage.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_THREAD, &mut usage);
        usage
    };
    let ms = |t: libc::timeval| t.tv_sec as u64 * 1000 + t.tv_usec as u64 / 1000;
    ms(usage.ru_utime) + ms(usage.ru_stime)
}

/// VmHWM from /proc/self/status, in bytes.
fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kib| kib * 1024)
}

/// The batch as trace events, if nothing in it is left to pair.
fn as_trace_events(raw: &[RawEvent]) -> Option<&[Event]> {
    if raw.iter().any(|e| e.kind.is_solo()) {
        return None;
    }
    // SAFETY: RawEvent is laid out as Event is (repr(C), the same field types in the
    // same order, checked sizes), and the kinds left, Alloc, Free and FreeTemporary,
    // have EventKind's values.
    Some(unsafe { std::slice::from_raw_parts(raw.as_ptr().cast::<Event>(), raw.len()) })
}

/// Trace events of `raw`, appended to `out`. The solo thread's allocations go into
/// its table and its frees are paired against it, in order, on this thread.
fn pair_and_convert(raw: &[RawEvent], out: &mut Vec<Event>) {
    let event = |e: &RawEvent, block: Block, kind| Event {
        time_ns: e.time_ns,
        size: block.size,
        stack: block.stack,
        kind,
    };
    let mut solo = None;
    let mut raw = raw.iter();
    while let Some(e) = raw.next() {
        let block = Block { size: e.size, stack: e.stack };
        match e.kind {
            RawKind::SoloAlloc => {
                // Pushed together with its address, so both are in the batch.
                let address = raw.next().map_or(0, |a| a.size);
                let lent = solo.get_or_insert_with(pairing::lent_pairing);
                if let Some(pairing) = lent.as_mut() {
                    pairing.alloc(address, block);
                }
                out.push(event(e, block, EventKind::Alloc));
            }
            RawKind::SoloFree => {
                let lent = solo.get_or_insert_with(pairing::lent_pairing);
                let freed = match lent.as_mut() {
                    Some(pairing) => pairing.free(e.size, live_table::claim_elsewhere),
                    None => None,
                };
                if let Some((block, kind)) = freed {
                    out.push(event(e, block, kind));
                }
            }
            RawKind::Address => {}
            kind => out.push(event(e, block, kind.paired())),
        }
    }
}
