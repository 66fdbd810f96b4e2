//! `memscope report`: the self-contained HTML report (summary, memory over time, flame
//! graph, top functions, leaks), one file that opens in any browser without a network.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use memscope_export::{write_html, ReportModel, ReportOptions};

use crate::output_file::Replacement;
use crate::report::{run_report, StackArgs};

/// Write an HTML report: the summary, a memory-over-time chart where a click picks a
/// moment and a drag a range, a flame graph of any of the four sample types, a sortable
/// table of functions, and leaks with full stacks. One file, no network needed.
#[derive(Args)]
pub struct HtmlReportArgs {
    /// The trace to read.
    trace: PathBuf,
    /// Where to write the page (FILE.html).
    #[arg(short = 'o', value_name = "FILE")]
    output: PathBuf,
    #[command(flatten)]
    stacks: StackArgs,
}

pub fn run(args: HtmlReportArgs) -> Result<u8> {
    write_report(&args.trace, &args.output, &args.stacks)?;
    Ok(0)
}

/// Writes the HTML report of `trace` to `out`, counting everything: what
/// `memscope run --report FILE.html` calls when the run ends.
pub fn write_html_report(trace: &Path, out: &Path) -> Result<()> {
    write_report(trace, out, &StackArgs::default())
}

fn write_report(trace: &Path, out: &Path, stacks: &StackArgs) -> Result<()> {
    let mut output = Replacement::new(out)?;
    run_report(trace, stacks, |recording, prepared| {
        let options = ReportOptions::default();
        let model =
            ReportModel::build(recording, &mut prepared.symbols, &prepared.filter, &options);
        Ok(write_html(&mut output, &model)?)
    })?;
    output.commit()
}
