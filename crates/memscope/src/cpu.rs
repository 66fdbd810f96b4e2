//! `/debug/pprof/profile?seconds=N`: a CPU profile of the program, taken with pprof-rs
//! (SIGPROF sampling at 100 Hz) and served gzip-compressed, as Go's endpoint serves it.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use flate2::write::GzEncoder;
use memscope_endpoint::{Answer, Routes, MAX_SECONDS};
use pprof::protos::Message;

/// Samples a second: Go's rate.
const FREQUENCY: i32 = 100;
/// What a request without `seconds` gets: Go's default.
const DEFAULT_SECONDS: u64 = 30;

/// Set while a profile is being taken: the process has one SIGPROF timer.
static TAKING: AtomicBool = AtomicBool::new(false);

/// The CPU profile route.
pub(crate) struct CpuProfile;

impl Routes for CpuProfile {
    fn answer(&self, path: &str, query: &str) -> Option<Answer> {
        (path == "/debug/pprof/profile").then(|| profile(query))
    }
}

fn profile(query: &str) -> Answer {
    let seconds = match seconds_of(query) {
        Ok(seconds) => seconds,
        Err(message) => return Answer::error(400, message),
    };
    if TAKING.swap(true, Ordering::AcqRel) {
        return Answer::error(409, "a CPU profile is being taken already: try again when it ends");
    }
    let answer =
        take(Duration::from_secs(seconds)).unwrap_or_else(|message| Answer::error(500, message));
    TAKING.store(false, Ordering::Release);
    answer
}

fn seconds_of(query: &str) -> Result<u64, String> {
    let mut seconds = DEFAULT_SECONDS;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=').unwrap_or((pair, "")) {
            ("seconds", value) => match value.parse::<u64>() {
                Ok(n @ 1..=MAX_SECONDS) => seconds = n,
                _ => return Err(format!("bad seconds value {value:?}: give 1 to {MAX_SECONDS}")),
            },
            (key, _) => {
                return Err(format!("unknown parameter {key:?}: this profile takes seconds"))
            }
        }
    }
    Ok(seconds)
}

/// Samples for `duration`, then encodes the profile.
fn take(duration: Duration) -> Result<Answer, String> {
    let guard = pprof::ProfilerGuardBuilder::default()
        .frequency(FREQUENCY)
        .blocklist(&["libc", "libgcc", "pthread", "vdso"])
        .build()
        .map_err(|e| format!("cannot start the CPU profiler: {e}"))?;
    std::thread::sleep(duration);
    let report =
        guard.report().build().map_err(|e| format!("cannot build the CPU profile: {e}"))?;
    drop(guard);
    let profile = report.pprof().map_err(|e| format!("cannot encode the CPU profile: {e}"))?;
    let mut gzip = GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(&profile.encode_to_vec()).map_err(|e| e.to_string())?;
    let body = gzip.finish().map_err(|e| e.to_string())?;
    let mut answer = Answer::ok("application/octet-stream", body);
    answer.headers.push(("Content-Disposition", "attachment; filename=\"profile\"".into()));
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_default_to_go_s_and_bad_values_are_refused() {
        assert_eq!(seconds_of(""), Ok(30));
        assert_eq!(seconds_of("seconds=2"), Ok(2));
        assert!(seconds_of("seconds=0").unwrap_err().contains("give 1 to 600"));
        assert!(seconds_of("seconds=x").unwrap_err().contains("bad seconds value \"x\""));
        assert!(seconds_of("hz=5").unwrap_err().contains("unknown parameter \"hz\""));
    }
}
