//! `memscope peak`: when the live heap was highest, and what was live then.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use memscope_analyze::{ns_to_ms, Moment, Peak, Snapshot};
use serde::Serialize;

use crate::output::{bytes, moment_name, write_json, write_sampled_heading};
use crate::report::{run_report, ReportArgs};
use crate::stack_list::{live_stack_rows, write_stack_rows, StackRow};
use crate::time_arg::{parse_window, WindowArg};

/// Show when the live heap peaked and what was live then, grouped by stack.
#[derive(Args)]
pub struct PeakArgs {
    /// The trace to read.
    trace: PathBuf,
    /// Show at most N stacks (0 for all).
    #[arg(short = 'n', long = "limit", value_name = "N", default_value_t = 10)]
    limit: usize,
    /// The highest live heap inside FROM:TO milliseconds (TO not included) rather than
    /// the whole run's.
    #[arg(long, value_name = "FROM:TO", value_parser = parse_window)]
    peak_in: Option<WindowArg>,
    #[command(flatten)]
    report: ReportArgs,
}

#[derive(Serialize)]
struct PeakJson<'s> {
    time_ms: f64,
    /// The moment, as `--at` takes it.
    at: String,
    bytes: i64,
    blocks: i64,
    stacks: Vec<StackRow<'s>>,
    /// Stacks live then that are not shown.
    more_stacks: usize,
}

pub fn run(args: PeakArgs) -> Result<u8> {
    run_report(&args.trace, &args.report.stacks, |recording, prepared| {
        let peak = match &args.peak_in {
            Some(window) => window.peak(recording, &prepared.filter)?,
            None => Peak::find(recording, &prepared.filter),
        };
        let snapshot = Snapshot::take(recording, Moment::Peak(peak), &prepared.filter);
        let list = live_stack_rows(&snapshot, &mut prepared.symbols, args.limit);
        let at = moment_name(peak.time_ns, peak.events_at_time);
        let mut out = std::io::stdout().lock();
        if args.report.json {
            let (time_ms, bytes, blocks) = (ns_to_ms(peak.time_ns), peak.bytes, peak.blocks);
            let (stacks, more_stacks) = (list.rows, list.more);
            let json = PeakJson { time_ms, at, bytes, blocks, stacks, more_stacks };
            return write_json(&mut out, &json);
        }
        write_sampled_heading(&mut out, recording.sampling())?;
        let within =
            args.peak_in.as_ref().map_or(String::new(), |w| format!(" in {} ms", w.text()));
        let (bytes, blocks) = (bytes(peak.bytes), peak.blocks);
        writeln!(out, "peak{within}: {bytes} in {blocks} blocks at {at} ms\n")?;
        write_stack_rows(&mut out, &list, "live")
    })
}
