//! `memscope peak`: when the live heap was highest, and what was live then.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use memscope_analyze::{ns_to_ms, Moment, Peak, Snapshot};
use serde::Serialize;

use crate::output::{bytes, ms, write_json};
use crate::report::{run_report, ReportArgs};
use crate::stack_list::{live_stack_rows, write_stack_rows, StackRow};

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
    run_report(&args.trace, &args.report.stacks, |recording, prepared| {
        let peak = Peak::find(recording, &prepared.filter);
        let snapshot = Snapshot::take(recording, Moment::Peak(peak), &prepared.filter);
        let stacks = live_stack_rows(&snapshot, &mut prepared.symbols, args.limit);
        let mut out = std::io::stdout().lock();
        if args.report.json {
            let (time_ms, bytes, blocks) = (ns_to_ms(peak.time_ns), peak.bytes, peak.blocks);
            return write_json(&mut out, &PeakJson { time_ms, bytes, blocks, stacks });
        }
        let (bytes, blocks, at) = (bytes(peak.bytes), peak.blocks, ms(peak.time_ns));
        writeln!(out, "peak: {bytes} in {blocks} blocks at {at} ms\n")?;
        write_stack_rows(&mut out, &stacks, "live")
    })
}
