//! The heap profiles the endpoint answers with, made from a snapshot's trace by the same
//! queries and writers as `memscope export`.

use std::sync::OnceLock;

use memscope_analyze::{
    EventFilter, Moment, Recording, SampleType, Snapshot, StackProfile, StackSymbols,
};
use memscope_collector::LiveSnapshot;
use memscope_export::{write_pprof, PprofHeader};

use crate::error::EndpointError;
use crate::go_text::write_go_heap_text;
use crate::snapshot_trace::snapshot_trace;

/// Which rendering of a heap profile.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Rendering {
    /// gzip-compressed protobuf, for `go tool pprof`.
    Pprof,
    /// Go's legacy text form (`?debug=1`).
    Text,
}

/// The heap profile of `snapshot` (less `baseline`, for a delta), rendered.
pub fn heap_profile(
    snapshot: &LiveSnapshot,
    baseline: Option<&LiveSnapshot>,
    default: SampleType,
    rendering: Rendering,
) -> Result<Vec<u8>, EndpointError> {
    // Go's text form carries the rate and its readers scale the samples themselves.
    let counting = match rendering {
        Rendering::Pprof => Counting::Estimates,
        Rendering::Text => Counting::Samples,
    };
    live_profile(snapshot, baseline, counting, |recording, profile| {
        let mut out = Vec::new();
        match rendering {
            Rendering::Pprof => {
                let header = PprofHeader {
                    default_sample_type: default,
                    comments: comments(snapshot, baseline),
                    window_ns: baseline.map(|base| (base.time_ns, snapshot.time_ns)),
                };
                write_pprof(&mut out, recording, profile, &header)
                    .map_err(EndpointError::Export)?;
            }
            Rendering::Text => write_go_heap_text(&mut out, profile, snapshot.meta.sample_rate),
        }
        Ok(out)
    })?
}

/// Runs `f` on the per-stack profile of `snapshot` (less `baseline`), symbolized, and on
/// the small trace it was made from. The work runs on memscope's own analysis threads,
/// named `memscope-analysis-N`: in a program that records itself, the program's own
/// rayon pool is left alone, and these threads' allocations are left out by name.
///
/// A sampled recording's counts are the estimates (see `memscope_analyze::Sampling`).
pub fn with_live_profile<T: Send>(
    snapshot: &LiveSnapshot,
    baseline: Option<&LiveSnapshot>,
    f: impl FnOnce(&Recording, &StackProfile) -> T + Send,
) -> Result<T, EndpointError> {
    live_profile(snapshot, baseline, Counting::Estimates, f)
}

/// What a sampled recording's profile counts.
#[derive(Copy, Clone)]
enum Counting {
    /// The samples scaled back.
    Estimates,
    /// The samples as recorded.
    Samples,
}

fn live_profile<T: Send>(
    snapshot: &LiveSnapshot,
    baseline: Option<&LiveSnapshot>,
    counting: Counting,
    f: impl FnOnce(&Recording, &StackProfile) -> T + Send,
) -> Result<T, EndpointError> {
    let analyse = || {
        let trace = snapshot_trace(snapshot, baseline, None).map_err(EndpointError::Snapshot)?;
        let recording = Recording::open(trace.file()).map_err(EndpointError::Analysis)?;
        let everything = EventFilter::everything();
        let state = match counting {
            Counting::Estimates => Snapshot::take(&recording, Moment::End, &everything),
            Counting::Samples => Snapshot::take_samples(&recording, Moment::End, &everything),
        };
        let mut symbols = StackSymbols::new(&recording, false);
        symbols.resolve(state.counts.keys().copied());
        Ok(f(&recording, &StackProfile::compute(&state, &symbols)))
    };
    match analysis_pool() {
        Some(pool) => pool.install(analyse),
        None => analyse(),
    }
}

/// The analysis threads (none if they cannot be started: the caller's pool then works).
fn analysis_pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|index| format!("memscope-analysis-{index}"))
            .build()
            .ok()
    })
    .as_ref()
}

fn comments(snapshot: &LiveSnapshot, baseline: Option<&LiveSnapshot>) -> Vec<String> {
    let meta = &snapshot.meta;
    let ms = |ns: u64| ns as f64 / 1e6;
    let when = match baseline {
        Some(base) => format!("from {:.3} to {:.3} ms", ms(base.time_ns), ms(snapshot.time_ns)),
        None => format!("at {:.3} ms", ms(snapshot.time_ns)),
    };
    let what = if baseline.is_some() { "delta profile" } else { "live profile" };
    vec![format!("memscope {what} of {} (pid {}) {when}", meta.args.join(" "), meta.pid)]
}
