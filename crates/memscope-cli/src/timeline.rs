//! `memscope timeline`: the live heap over time, one row per interval with its high.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use memscope_analyze::Timeline;
use memscope_export::TimelineRowJson;

use crate::output::{
    bytes, moment_name, ms, short_ms, write_json, write_sampled_heading, write_table,
};
use crate::report::{run_report, ReportArgs};
use crate::time_arg::{parse_ms, TimeArg};

/// Widest bar of the text form.
const BAR_WIDTH: i64 = 40;

/// Show the live heap over time: for each interval, its highest point, the blocks live
/// then, and when it was reached.
#[derive(Args)]
pub struct TimelineArgs {
    /// The trace to read.
    trace: PathBuf,
    /// Length of each row, milliseconds.
    #[arg(long, value_name = "MS", default_value = "100", value_parser = parse_ms)]
    interval: TimeArg,
    /// Print CSV (t_ms,bytes,blocks,high_ms,rss_bytes) instead of text.
    #[arg(long, conflicts_with = "json")]
    csv: bool,
    #[command(flatten)]
    report: ReportArgs,
}

pub fn run(args: TimelineArgs) -> Result<u8> {
    if args.interval.ns == 0 {
        anyhow::bail!(
            "--interval {} is no length: give a number of milliseconds above 0",
            args.interval.text
        );
    }
    run_report(&args.trace, &args.report.stacks, |recording, prepared| {
        let timeline = Timeline::build(recording, args.interval.ns, &prepared.filter)?;
        let rows: Vec<TimelineRowJson> = timeline.rows.iter().map(TimelineRowJson::from).collect();
        let mut out = std::io::stdout().lock();
        if args.report.json {
            return write_json(&mut out, &rows);
        }
        if !args.csv {
            write_sampled_heading(&mut out, recording.sampling())?;
            return write_text(&mut out, &timeline);
        }
        writeln!(out, "t_ms,bytes,blocks,high_ms,rss_bytes")?;
        for row in &rows {
            let rss = row.rss_bytes.map_or(String::new(), |b| b.to_string());
            writeln!(out, "{},{},{},{},{rss}", row.t_ms, row.bytes, row.blocks, row.high_ms)?;
        }
        Ok(())
    })
}

fn write_text(out: &mut impl Write, timeline: &Timeline) -> Result<()> {
    let highest = timeline.rows.iter().map(|row| row.bytes).max().unwrap_or(0).max(1);
    let mut table = vec![["t_ms", "bytes", "blocks", "high (--at)", "rss", "--peak-in", ""]
        .map(String::from)
        .to_vec()];
    for row in &timeline.rows {
        let bar = "#".repeat((row.bytes.max(0) * BAR_WIDTH / highest) as usize);
        let end_ns = row.start_ns.saturating_add(timeline.interval_ns);
        table.push(vec![
            ms(row.start_ns),
            bytes(row.bytes),
            row.blocks.to_string(),
            moment_name(row.high_ns, row.high_events_at_time),
            row.rss_bytes.map_or("-".to_owned(), |b| bytes(b as i64)),
            format!("{}:{}", short_ms(row.start_ns), short_ms(end_ns)),
            bar,
        ]);
    }
    write_table(out, &table)?;
    writeln!(
        out,
        "\n`top --at HIGH` or `top --peak-in FROM:TO` shows what was live at a row's high (leaks, peak, diff and the exports take --peak-in too)."
    )?;
    Ok(())
}
