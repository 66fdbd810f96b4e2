//! `memscope peak`: when the live heap was highest, and what was live then.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use memscope_analyze::{ns_to_ms, Moment, Peak, Snapshot};
use serde::Serialize;

use crate::output::{bytes, ms, write_json};
use crate::report::ReportArgs;
use crate::stack_list::{live_stack_rows, write_stack_rows, StackRow};
use crate::trace_input;

/// Show when the live heap peaked and what was live then, grouped by stack.
#[derive(Args)]
pub struct PeakArgs {
    /// The trace to read.
    trace: PathBuf,
    /// Show at most N stacks (0 for all).
    #[arg(short = 'n', long = "limit", value_name = "N")]
    limit: Option<usize>,
    #[command(flatten)]
    report: ReportArgs,
}

#[derive(Serialize)]
struct PeakJson<'s> {
    time_ms: f64,
    bytes: i64,
    blocks: i64,
    stacks: Vec<StackRow<'s>>,
}

pub fn run(args: PeakArgs) -> Result<u8> {
    let filter = args.report.filter()?;
    let file = trace_input::open(&args.trace)?;
    let mut input = trace_input::recording(&file)?;
    let recording = &input.recording;
    let mut prepared = args.report.prepare(recording, &filter);
    let peak = Peak::find(recording, &prepared.filter);
    let snapshot = Snapshot::take(recording, Moment::At(peak.time_ns), &prepared.filter);
    let stacks = live_stack_rows(&snapshot, &mut prepared.symbols, args.limit);
    let mut out = std::io::stdout().lock();
    if args.report.json {
        let json = PeakJson { time_ms: ns_to_ms(peak.time_ns), bytes: peak.bytes, blocks: peak.blocks, stacks };
        write_json(&mut out, &json)?;
    } else {
        writeln!(out, "peak: {} in {} blocks at {} ms", bytes(peak.bytes), peak.blocks, ms(peak.time_ns))?;
        writeln!(out)?;
        write_stack_rows(&mut out, &stacks, "live")?;
    }
    input.warn();
    Ok(0)
}
