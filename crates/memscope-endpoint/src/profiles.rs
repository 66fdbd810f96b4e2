//! The heap profiles the endpoint answers with, made from a snapshot's trace by the same
//! queries and writers as `memscope export`.

use memscope_analyze::{
    EventFilter, Moment, Recording, SampleType, Snapshot, StackProfile, StackSymbols, TraceFile,
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
    let trace = snapshot_trace(snapshot, baseline, None).map_err(EndpointError::Snapshot)?;
    render(trace.file(), snapshot, baseline.is_some(), default, rendering)
}

fn render(
    file: &TraceFile,
    snapshot: &LiveSnapshot,
    delta: bool,
    default: SampleType,
    rendering: Rendering,
) -> Result<Vec<u8>, EndpointError> {
    let recording = Recording::open(file).map_err(EndpointError::Analysis)?;
    let everything = EventFilter::everything();
    let state = Snapshot::take(&recording, Moment::End, &everything);
    let mut symbols = StackSymbols::new(&recording, false);
    symbols.resolve(state.counts.keys().copied());
    let profile = StackProfile::compute(&state, &symbols);
    let mut out = Vec::new();
    match rendering {
        Rendering::Pprof => {
            let header =
                PprofHeader { default_sample_type: default, comments: comments(snapshot, delta) };
            write_pprof(&mut out, &recording, &profile, &header).map_err(EndpointError::Export)?;
        }
        Rendering::Text => write_go_heap_text(&mut out, &profile, snapshot.meta.sample_rate),
    }
    Ok(out)
}

fn comments(snapshot: &LiveSnapshot, delta: bool) -> Vec<String> {
    let meta = &snapshot.meta;
    let when = snapshot.time_ns as f64 / 1e6;
    let what = if delta { "a delta profile" } else { "live profile" };
    vec![format!("memscope {what} of {} (pid {}) at {when:.3} ms", meta.args.join(" "), meta.pid)]
}
