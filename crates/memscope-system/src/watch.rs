//! Sampling one process's memory at a fixed interval.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use procfs::process::Process;
use serde::Serialize;

use crate::cgroup::usage_bytes;
use crate::process::{open_process, read_usage};
use crate::{CgroupHierarchy, Error, Pid};

/// How long a sleep between samples may run before checking for a stop request,
/// so that Ctrl-C is answered quickly even with long intervals.
const STOP_POLL: Duration = Duration::from_millis(50);

/// One measurement of a watched process, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Sample {
    /// Milliseconds since the watch started.
    pub t_ms: u64,
    /// Resident set size.
    pub rss_bytes: u64,
    /// Proportional set size.
    pub pss_bytes: u64,
    /// Swapped-out memory.
    pub swap_bytes: u64,
    /// Usage of the process's memory cgroup (all its members); `None` when unknown.
    pub cgroup_bytes: Option<u64>,
}

/// Receives samples as they are taken: each output format is one implementation.
pub trait SampleSink {
    /// Takes one sample; an error ends the watch.
    fn sample(&mut self, sample: &Sample) -> Result<(), Error>;
}

/// Keeps every sample, for outputs that need them all (JSON, charts).
impl SampleSink for Vec<Sample> {
    fn sample(&mut self, sample: &Sample) -> Result<(), Error> {
        self.push(*sample);
        Ok(())
    }
}

/// When and for how long to sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WatchOptions {
    /// Time between samples.
    pub interval: Duration,
    /// How long to watch; `None` to watch until the process exits.
    pub duration: Option<Duration>,
}

/// Why a watch ended without error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchEnd {
    /// [`WatchOptions::duration`] passed.
    DurationElapsed,
    /// The process exited (or became a zombie).
    ProcessExited,
    /// The caller's stop flag was raised.
    Stopped,
}

/// Samples `pid` until the duration passes, the process exits, or `stop` is set.
///
/// The first sample is taken at once; failing to take it is an error (no such
/// process, permission denied). Later samples are due at whole multiples of the
/// interval from the start, so slow reads do not make the timeline drift.
/// `hierarchy` supplies the cgroup usage; without it `cgroup_bytes` is `None`.
pub fn watch(
    pid: Pid,
    hierarchy: Option<&CgroupHierarchy>,
    options: &WatchOptions,
    stop: &AtomicBool,
    sink: &mut dyn SampleSink,
) -> Result<WatchEnd, Error> {
    let process = open_process(pid)?;
    let start = Instant::now();
    let first = take_sample(&process, hierarchy, start)?.ok_or(Error::NoAddressSpace { pid })?;
    sink.sample(&first)?;
    let mut due = start;
    loop {
        due += options.interval;
        if options.duration.is_some_and(|duration| due > start + duration) {
            return Ok(WatchEnd::DurationElapsed);
        }
        if !sleep_until(due, stop) {
            return Ok(WatchEnd::Stopped);
        }
        match take_sample(&process, hierarchy, start) {
            Ok(Some(sample)) => sink.sample(&sample)?,
            Ok(None) | Err(Error::NoSuchProcess { .. }) => return Ok(WatchEnd::ProcessExited),
            Err(err) => return Err(err),
        }
    }
}

/// One sample; `None` once the process has no memory left (a zombie).
fn take_sample(
    process: &Process,
    hierarchy: Option<&CgroupHierarchy>,
    start: Instant,
) -> Result<Option<Sample>, Error> {
    let t_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    let Some(usage) = read_usage(process)? else {
        return Ok(None);
    };
    let cgroup_bytes = hierarchy.and_then(|hierarchy| {
        let path = hierarchy.process_cgroup(process)?;
        usage_bytes(hierarchy, &path)
    });
    Ok(Some(Sample {
        t_ms,
        rss_bytes: usage.rss_bytes,
        pss_bytes: usage.pss_bytes,
        swap_bytes: usage.swap_bytes,
        cgroup_bytes,
    }))
}

/// Sleeps until `deadline`; false when `stop` was raised first.
fn sleep_until(deadline: Instant, stop: &AtomicBool) -> bool {
    loop {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        thread::sleep((deadline - now).min(STOP_POLL));
    }
}
