//! The whole-trace view: segments decoded in parallel and merged.

use std::collections::HashMap;

use memscope_format::{End, EndReason, Meta, Module, RssSample, StackId};
use rayon::prelude::*;
use serde::Serialize;

use crate::error::AnalyzeError;
use crate::segment_pass::{SegmentPass, StackCounts};
use crate::trace_file::TraceFile;

/// The headline numbers of a recording (`memscope summary`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Calls that allocated a block.
    pub allocations: u64,
    /// Calls that freed a tracked block.
    pub frees: u64,
    /// Bytes requested by all allocations.
    pub bytes_allocated: u64,
    /// Highest live heap, in bytes.
    pub peak_bytes: u64,
    /// When it was reached, milliseconds since start.
    pub peak_time_ms: f64,
    /// Bytes still live at the end.
    pub leaked_bytes: u64,
    /// Blocks still live at the end.
    pub leaked_blocks: u64,
    /// Blocks freed by their thread before it allocated anything else.
    pub temporary_allocations: u64,
    /// Length of the recording, milliseconds.
    pub runtime_ms: f64,
    /// Threads that allocated or freed.
    pub threads: u64,
    /// Whether the recording ended with an end block (nothing was lost at the end).
    pub complete: bool,
    /// How it ended: `exit`, `_exit`, `exec`, `signal N`, or null when cut off.
    pub end_reason: Option<String>,
    /// Peak resident set size of the process (VmHWM), bytes; 0 if unknown.
    pub peak_rss_bytes: u64,
    /// Events the recorder could not write.
    pub dropped_events: u64,
}

/// Where a damaged trace stops being readable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// What is wrong, with its byte offset.
    pub message: String,
    /// Events decoded before it.
    pub events_recovered: u64,
}

/// A live stack at the end of the recording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackUsage {
    /// The stack.
    pub stack: StackId,
    /// Its counts.
    pub counts: StackCounts,
}

/// Everything the reports need from one trace.
pub struct Profile {
    /// Who was recorded.
    pub meta: Meta,
    /// The headline numbers.
    pub summary: Summary,
    /// Stack id → return addresses, innermost first.
    pub stacks: HashMap<StackId, Vec<u64>>,
    /// Every module seen.
    pub modules: Vec<Module>,
    /// Per-stack counts at the end.
    pub stack_counts: HashMap<StackId, StackCounts>,
    /// RSS samples.
    pub rss: Vec<RssSample>,
    /// Set when the trace is damaged or truncated.
    pub damage: Option<Damage>,
}

/// Milliseconds with microsecond precision: finer digits are clock noise.
pub(crate) fn ns_to_ms(ns: u64) -> f64 {
    (ns / 1000) as f64 / 1000.0
}

fn reason_name(reason: EndReason) -> String {
    match reason {
        EndReason::Exit => "exit".into(),
        EndReason::ImmediateExit => "_exit".into(),
        EndReason::Exec => "exec".into(),
        EndReason::Signal(signal) => format!("signal {signal}"),
    }
}

impl Profile {
    /// Decodes every segment of `file` in parallel and merges them.
    pub fn load(file: &TraceFile) -> Result<Profile, AnalyzeError> {
        let trace = file.trace()?;
        let meta = trace.meta().map_err(|source| AnalyzeError::Format { path: file.path().to_owned(), source })?;
        let passes: Vec<SegmentPass> =
            (0..trace.segments().len()).into_par_iter().map(|i| SegmentPass::run(&trace, i)).collect();
        let mut damage = trace.damage().map(ToString::to_string);
        // A segment that fails to decode hides everything after it.
        let readable = passes.iter().position(|p| p.damage.is_some()).map_or(passes.len(), |i| i + 1);
        if let Some(err) = passes.get(readable.wrapping_sub(1)).and_then(|p| p.damage.as_ref()) {
            damage = Some(err.to_string());
        }
        let passes = &passes[..readable];
        let events_recovered = passes.iter().map(|p| p.events).sum();
        let mut profile = merge(meta, passes);
        profile.damage = damage.map(|message| Damage { message, events_recovered });
        Ok(profile)
    }
}

fn merge(meta: Meta, passes: &[SegmentPass]) -> Profile {
    let last = passes.last();
    let stack_counts = last.map(|p| p.counts.clone()).unwrap_or_default();
    let end: Option<&End> = last.and_then(|p| p.end.as_ref());
    let (peak_bytes, peak_time_ns) =
        passes.iter().map(|p| (p.peak_bytes, p.peak_time_ns)).fold((0, 0), |best, p| if p.0 > best.0 { p } else { best });
    let last_event_ns = passes.iter().map(|p| p.last_time_ns).max().unwrap_or(0);
    let rss: Vec<RssSample> = passes.iter().flat_map(|p| p.rss.iter().copied()).collect();
    let last_rss_ns = rss.last().map_or(0, |s| s.time_ns);
    let runtime_ns = end.map_or(last_event_ns.max(last_rss_ns), |e| e.time_ns);
    let mut threads: Vec<_> = passes.iter().flat_map(|p| p.threads.iter().copied()).collect();
    threads.sort();
    threads.dedup();
    let summary = Summary {
        allocations: stack_counts.values().map(|c| c.alloc_blocks).sum(),
        frees: last.map_or(0, |p| p.frees),
        bytes_allocated: stack_counts.values().map(|c| c.alloc_bytes).sum(),
        peak_bytes,
        peak_time_ms: ns_to_ms(peak_time_ns),
        leaked_bytes: stack_counts.values().map(|c| c.live_bytes).sum(),
        leaked_blocks: stack_counts.values().map(|c| c.live_blocks).sum(),
        temporary_allocations: last.map_or(0, |p| p.temporary),
        runtime_ms: ns_to_ms(runtime_ns),
        threads: threads.len() as u64,
        complete: end.is_some(),
        end_reason: end.map(|e| reason_name(e.reason)),
        peak_rss_bytes: end.map_or_else(|| rss.iter().map(|s| s.rss_bytes).max().unwrap_or(0), |e| e.peak_rss_bytes),
        dropped_events: end.map_or(0, |e| e.dropped_events),
    };
    let mut stacks = HashMap::new();
    let mut modules: Vec<Module> = Vec::new();
    for pass in passes {
        stacks.extend(pass.stacks.iter().map(|def| (def.id, def.frames.clone())));
        for module in &pass.modules {
            if !modules.iter().any(|m| m.path == module.path && m.load_bias == module.load_bias) {
                modules.push(module.clone());
            }
        }
    }
    Profile { meta, summary, stacks, modules, stack_counts, rss, damage: None }
}

impl Profile {
    /// Stacks with live blocks at the end, most bytes first.
    pub fn leaks(&self) -> Vec<StackUsage> {
        let mut rows: Vec<StackUsage> = self
            .stack_counts
            .iter()
            .filter(|(_, c)| c.live_blocks > 0)
            .map(|(&stack, &counts)| StackUsage { stack, counts })
            .collect();
        rows.sort_by(|a, b| b.counts.live_bytes.cmp(&a.counts.live_bytes).then(a.stack.cmp(&b.stack)));
        rows
    }
}
