//! `memscope summary`: the headline numbers, laid out like heaptrack_print's header.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{anyhow, Result};
use clap::Args;
use memscope_analyze::Summary;
use memscope_format::Meta;
use memscope_system::human_bytes;
use serde::Serialize;

use crate::output::{write_json, write_sampled_heading};
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
    damage: Vec<DamageJson>,
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
    let mut out = std::io::stdout().lock();
    if args.json {
        let damage = input.recording.damage().iter().map(DamageJson::from).collect();
        let meta = input.recording.meta();
        let json = SummaryJson {
            command: &meta.args,
            pid: meta.pid,
            executable: &meta.exe,
            summary: &summary,
            damage,
        };
        write_json(&mut out, &json)?;
    } else {
        write_text(&mut out, input.recording.meta(), &summary)?;
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
