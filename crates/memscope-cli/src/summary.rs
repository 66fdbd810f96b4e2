//! `memscope summary`: the headline numbers, laid out like heaptrack_print's header.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{anyhow, Result};
use clap::Args;
use memscope_analyze::{Summary, ThreadFigures};
use memscope_format::Meta;
use memscope_system::human_bytes;
use serde::Serialize;

use crate::output::{bytes, write_json, write_sampled_heading, write_table};
use crate::trace_input::{self, DamageJson};

/// `summary --json`: the totals and the damage found.
#[derive(Serialize)]
struct SummaryJson<'s> {
    /// The program's arguments, its name first.
    command: &'s [String],
    pid: u32,
    /// The program's executable file.
    executable: &'s str,
    #[serde(flatten)]
    summary: &'s Summary,
    /// Each thread's figures, by id; left out with `--recorded`, which replays nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    threads_detail: Option<Vec<ThreadJson<'s>>>,
    damage: Vec<DamageJson>,
    /// A rotated series' files left out (older than a missing file), as the warnings
    /// say it: a script sees the gap as a reader of stderr does.
    series_gaps: &'s [String],
}

/// One thread in `summary --json`.
#[derive(Serialize)]
struct ThreadJson<'s> {
    id: u32,
    /// Its name, if the trace recorded names.
    name: Option<&'s str>,
    allocations: u64,
    bytes_allocated: u64,
    frees: u64,
    bytes_freed: u64,
    peak_live_bytes: i64,
}

impl<'s> From<&'s ThreadFigures> for ThreadJson<'s> {
    fn from(t: &'s ThreadFigures) -> Self {
        ThreadJson {
            id: t.thread.0,
            name: t.name.as_deref(),
            allocations: t.allocations,
            bytes_allocated: t.bytes_allocated,
            frees: t.frees,
            bytes_freed: t.bytes_freed,
            peak_live_bytes: t.peak_live_bytes,
        }
    }
}

/// Show a recording's totals: calls, temporaries, peak heap and when, peak RSS, leaks.
#[derive(Args)]
pub struct SummaryArgs {
    /// The trace to read.
    trace: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Print the totals the recorder kept as it wrote the trace, without replaying it
    /// (instant on any trace; what `memscope run` prints). Needs a complete trace.
    #[arg(long)]
    recorded: bool,
}

pub fn run(args: SummaryArgs) -> Result<u8> {
    let file = trace_input::open(&args.trace)?;
    let mut input = trace_input::recording(file.files())?;
    let summary = if args.recorded {
        Summary::from_recorder(&input.recording).ok_or_else(|| {
            anyhow!(
                "{} has no recorder totals (it was cut off, sampled, or written before format version 3); run without --recorded",
                args.trace.display()
            )
        })?
    } else {
        Summary::compute(&input.recording)
    };
    let threads = (!args.recorded).then(|| ThreadFigures::compute(&input.recording));
    let mut out = std::io::stdout().lock();
    if args.json {
        let damage = input.recording.damage().iter().map(DamageJson::from).collect();
        let meta = input.recording.meta();
        let json = SummaryJson {
            command: &meta.args,
            pid: meta.pid,
            executable: &meta.exe,
            summary: &summary,
            threads_detail: threads.as_ref().map(|t| t.iter().map(ThreadJson::from).collect()),
            damage,
            series_gaps: file.notes(),
        };
        write_json(&mut out, &json)?;
    } else {
        write_text(&mut out, input.recording.meta(), &summary)?;
        if let Some(threads) = &threads {
            write_threads(&mut out, threads)?;
        }
    }
    input.warn();
    Ok(0)
}

/// A count and its rate over the run: "41 (81/s)".
fn with_rate(count: u64, runtime_ms: f64) -> String {
    if runtime_ms > 0.0 {
        format!("{count} ({:.0}/s)", count as f64 * 1000.0 / runtime_ms)
    } else {
        count.to_string()
    }
}

/// The threads as a table, after the summary's text (which `memscope run` prints
/// without it).
fn write_threads(out: &mut impl Write, threads: &[ThreadFigures]) -> Result<()> {
    writeln!(out)?;
    let header = ["thread", "allocations", "allocated", "frees", "peak live", "name"];
    let mut table = vec![header.map(String::from).to_vec()];
    table.extend(threads.iter().map(|t| {
        vec![
            t.thread.0.to_string(),
            t.allocations.to_string(),
            human_bytes(t.bytes_allocated),
            t.frees.to_string(),
            bytes(t.peak_live_bytes),
            t.name.clone().unwrap_or_else(|| "?".into()),
        ]
    }));
    write_table(out, &table)
}

/// The text form, also printed by `memscope run` when the program ends.
pub fn write_text(out: &mut impl Write, meta: &Meta, s: &Summary) -> std::io::Result<()> {
    let command = meta.args.join(" ");
    writeln!(out, "command: {command} (pid {})", meta.pid)?;
    write_sampled_heading(out, s.sampled).map_err(std::io::Error::other)?;
    let ending = match &s.end_reason {
        Some(reason) => format!("ended by {reason}"),
        None => "incomplete: the trace ends without an end record".to_owned(),
    };
    writeln!(out, "total runtime: {:.3} ms, {ending}", s.runtime_ms)?;
    if let Some(from_ms) = s.covers_from_ms {
        writeln!(
            out,
            "covers: {from_ms:.3} to {:.3} ms only, the older files of the rotated series are gone (the calls, bytes and leaks count the whole run; the peak only this time)",
            s.runtime_ms
        )?;
    }
    writeln!(out, "calls to allocation functions: {}", with_rate(s.allocations, s.runtime_ms))?;
    writeln!(out, "calls to free: {}", s.frees)?;
    let temporary = with_rate(s.temporary_allocations, s.runtime_ms);
    writeln!(out, "temporary memory allocations: {temporary}")?;
    writeln!(out, "bytes allocated in total: {}", human_bytes(s.bytes_allocated))?;
    let moment =
        s.peak_events.map_or(String::new(), |n| format!(" (--at {:.3}#{n})", s.peak_time_ms));
    writeln!(
        out,
        "peak heap memory consumption: {} after {:.3} ms{moment}",
        human_bytes(s.peak_bytes),
        s.peak_time_ms
    )?;
    writeln!(out, "peak RSS (including memscope overhead): {}", human_bytes(s.peak_rss_bytes))?;
    writeln!(
        out,
        "total memory leaked: {} in {} blocks",
        human_bytes(s.leaked_bytes),
        s.leaked_blocks
    )?;
    writeln!(out, "threads: {}", s.threads)?;
    if s.dropped_events > 0 {
        writeln!(out, "dropped events: {}", s.dropped_events)?;
    }
    Ok(())
}
