//! The recording inside the program: the capture area in anonymous memory, the agent
//! started on it, and the collector draining it on a thread of its own, as `memscope
//! run` would from outside.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use memscope_agent::{Settings, UnwindMode};
use memscope_collector::{
    create_private, CurrentLive, Destination, Ending, Image, LiveSnapshot, Mapping,
};
use memscope_format::EndReason;

use crate::config::{Config, Mode};
use crate::error::Error;
use crate::profiler;

/// The running recording.
pub(crate) struct Runtime {
    /// The live state the API and the endpoint read.
    pub current: CurrentLive,
    /// Set to ask the collector to write the trace's end and stop (at exit).
    finish: Arc<AtomicBool>,
    /// Set by the collector once it has.
    finished: Arc<AtomicBool>,
    /// Whether a trace file is written (it then needs its end at exit).
    keeps_trace: bool,
}

static RUNTIME: Mutex<Option<Arc<Runtime>>> = Mutex::new(None);

/// The recording, if it runs.
pub(crate) fn running() -> Option<Arc<Runtime>> {
    RUNTIME.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

/// Starts recording with `config` (a second start is a no-op; `enabled = false` does
/// nothing). Everything it does itself goes unrecorded: reporting is off until the
/// recorder and its collector run.
pub(crate) fn start(config: &Config) -> Result<Option<Arc<Runtime>>, Error> {
    if !config.enabled {
        return Ok(running());
    }
    let mut slot = RUNTIME.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(runtime) = slot.as_ref() {
        return Ok(Some(runtime.clone()));
    }
    let mapping = Mapping::anonymous()
        .map_err(|e| Error::CannotRecord(format!("cannot map the capture area: {e}")))?;
    let settings = Settings {
        max_frames: config.max_frames,
        unwind: UnwindMode::Dwarf,
        sample_rate: config.sample_rate,
        sample_seed: std::env::var("MEMSCOPE_SAMPLE_SEED").ok().and_then(|s| s.parse().ok()),
    };
    // SAFETY: the mapping is AREA_BYTES of zeroed memory, never unmapped (see
    // Mapping::anonymous).
    if !unsafe { memscope_agent::start_embedded(mapping.area().base(), &settings) } {
        return Err(Error::CannotRecord(
            "a recorder already runs in this process (is it under memscope run?)".into(),
        ));
    }
    let destination = match (&config.mode, &config.trace_path) {
        (Mode::Trace, Some(path)) => {
            let (file, _) = create_private(path)
                .map_err(|source| Error::Create { path: path.display().to_string(), source })?;
            Destination::File(file)
        }
        _ => Destination::Nowhere,
    };
    let runtime = Arc::new(Runtime {
        current: CurrentLive::default(),
        finish: Arc::default(),
        finished: Arc::default(),
        keeps_trace: config.mode == Mode::Trace,
    });
    spawn_collector(Image::new(mapping, destination), runtime.clone())?;
    runtime.wait_for_collector()?;
    profiler::report_from_now();
    if !profiler::is_global_allocator() {
        runtime.finish.store(true, Ordering::Release);
        return Err(Error::CannotRecord(
            "the global allocator is not memscope::Profiler (add #[global_allocator] static A: memscope::Profiler<System> = memscope::Profiler::new(System))".into(),
        ));
    }
    // SAFETY: registers a plain function to run at exit.
    unsafe { libc::atexit(at_exit) };
    *slot = Some(runtime.clone());
    Ok(Some(runtime))
}

/// How often the collector samples the resident set.
const RSS_INTERVAL: Duration = Duration::from_millis(10);
/// How long the collector sleeps when there was nothing to read.
const IDLE: Duration = Duration::from_millis(1);

fn spawn_collector(mut image: Image, runtime: Arc<Runtime>) -> Result<(), Error> {
    let collect = move || {
        memscope_agent::ignore_current_thread();
        let mut next_rss = Instant::now();
        while !runtime.finish.load(Ordering::Acquire) {
            image.tick(monotonic_ns());
            let progress = image.pass(false);
            if Instant::now() >= next_rss {
                next_rss = Instant::now() + RSS_INTERVAL;
                if let Some(rss) = resident_bytes() {
                    image.sample_rss(rss);
                }
            }
            runtime.current.set(image.live_handle());
            if !progress {
                std::thread::sleep(IDLE);
            }
        }
        if runtime.keeps_trace {
            image.finish(Ending::Gone(Some(EndReason::Exit)), 0);
        }
        runtime.current.end();
        runtime.finished.store(true, Ordering::Release);
    };
    std::thread::Builder::new()
        .name("memscope-collector".into())
        .spawn(collect)
        .map(drop)
        .map_err(|e| Error::CannotRecord(format!("cannot start the collector thread: {e}")))
}

/// At exit: a trace gets its end record (what the program allocates after this is not
/// recorded).
extern "C" fn at_exit() {
    let Some(runtime) = running() else { return };
    if !runtime.keeps_trace {
        return;
    }
    runtime.finish.store(true, Ordering::Release);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !runtime.finished.load(Ordering::Acquire) && Instant::now() < deadline {
        std::thread::sleep(IDLE);
    }
}

/// How long the collector may take to read the recorder's description of the process.
const COLLECTOR_START: Duration = Duration::from_secs(5);

impl Runtime {
    /// Waits until the collector has read the process's description, so that the
    /// figures asked for right after [`start`] are those of the recording.
    fn wait_for_collector(&self) -> Result<(), Error> {
        let deadline = Instant::now() + COLLECTOR_START;
        while !self.current.is_recording() {
            if Instant::now() > deadline {
                return Err(Error::CannotRecord("the collector did not start".into()));
            }
            std::thread::sleep(IDLE);
        }
        Ok(())
    }

    /// The state now (after every event published before the call).
    pub(crate) fn snapshot(&self) -> Option<LiveSnapshot> {
        self.current.snapshot()
    }
}

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The process's resident set and its peak (VmRSS, VmHWM), bytes.
pub(crate) fn resident() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kib| kib * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

fn resident_bytes() -> Option<u64> {
    resident().map(|(rss, _)| rss)
}
