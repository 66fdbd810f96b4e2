//! The system view: `ps`, `cgroups` and `watch` report the kernel's own memory
//! accounting of live processes and cgroups, without attaching to anything.
//!
//! The reading is done by `memscope-system`; this module parses arguments, picks
//! the output format, and opens the output.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use memscope_system::{
    render_svg, scan_processes, write_cgroup_table, write_process_table, CgroupHierarchy,
    CgroupMemory, Pid, Sample, SampleFormat, SampleSink, SampleWriter, SortKey, WatchEnd,
    WatchOptions,
};
use serde::Serialize;

use crate::output_file::{create_private, Replacement};

/// The commands that look at the running system rather than at a trace.
#[derive(Subcommand)]
pub enum SystemCommand {
    /// Rank processes by memory: RSS, PSS, USS (private) and swap, with each
    /// process's memory cgroup.
    Ps(PsArgs),
    /// List memory cgroups: usage, limit, peak, anon/file split, processes, and
    /// the container a cgroup belongs to.
    Cgroups(CgroupsArgs),
    /// Sample one process's RSS, PSS, swap and cgroup usage over time, as a live
    /// table, CSV, JSON or an SVG chart.
    Watch(WatchArgs),
}

/// Options of `memscope ps`.
#[derive(Args)]
pub struct PsArgs {
    /// The figure to rank by, largest first.
    #[arg(long, value_enum, default_value_t = SortBy::Rss)]
    sort: SortBy,
    /// Show only the first N processes.
    #[arg(short = 'n', value_name = "N")]
    count: Option<usize>,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum SortBy {
    Rss,
    Pss,
    Uss,
    Swap,
}

impl From<SortBy> for SortKey {
    fn from(sort: SortBy) -> Self {
        match sort {
            SortBy::Rss => SortKey::Rss,
            SortBy::Pss => SortKey::Pss,
            SortBy::Uss => SortKey::Uss,
            SortBy::Swap => SortKey::Swap,
        }
    }
}

/// Options of `memscope cgroups`.
#[derive(Args)]
pub struct CgroupsArgs {
    /// Print a JSON array instead of a table.
    #[arg(long)]
    json: bool,
}

/// Options of `memscope watch`.
#[derive(Args)]
pub struct WatchArgs {
    /// The process to watch.
    pid: i32,
    /// Time between samples, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(1..))]
    interval: u64,
    /// Stop after this many seconds (fractions allowed). Without it, the watch
    /// runs until the process exits or Ctrl-C.
    #[arg(long, value_name = "S", value_parser = parse_seconds)]
    duration: Option<Duration>,
    #[command(flatten)]
    format: WatchFormat,
    /// Write to FILE instead of standard output: samples to a new file (mode 0600; an
    /// existing file or symlink there is an error), a --plot chart in place of a
    /// regular file.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// At most one of these; without any, a table is printed as samples come.
#[derive(Args)]
#[group(multiple = false)]
struct WatchFormat {
    /// Print all samples as one JSON array when the watch ends.
    #[arg(long)]
    json: bool,
    /// Print a CSV header, then one row per sample as it comes.
    #[arg(long)]
    csv: bool,
    /// Draw an SVG chart of the samples into the file given by -o.
    #[arg(long)]
    plot: bool,
}

/// Runs one system command; the exit code is 0 on success.
pub fn run(cmd: SystemCommand) -> Result<u8> {
    match cmd {
        SystemCommand::Ps(args) => ps(args),
        SystemCommand::Cgroups(args) => cgroups(args),
        SystemCommand::Watch(args) => watch(args),
    }?;
    Ok(0)
}

fn ps(args: PsArgs) -> Result<()> {
    // Without a memory cgroup tree the ranking is still useful: cgroups show as "-".
    let hierarchy = CgroupHierarchy::detect().ok();
    let mut scan = scan_processes(hierarchy.as_ref())?;
    scan.sort(args.sort.into());
    if let Some(count) = args.count {
        scan.processes.truncate(count);
    }
    let mut out = io::stdout().lock();
    if args.json {
        write_json(&mut out, &scan.processes)?;
    } else {
        write_process_table(&mut out, &scan.processes)?;
    }
    if scan.skipped > 0 {
        eprintln!("processes skipped: {} (not readable, or exited during the scan)", scan.skipped);
    }
    Ok(())
}

fn cgroups(args: CgroupsArgs) -> Result<()> {
    let hierarchy = CgroupHierarchy::detect()?;
    let cgroups = CgroupMemory::read_all(&hierarchy)?;
    let mut out = io::stdout().lock();
    if args.json {
        write_json(&mut out, &cgroups)
    } else {
        Ok(write_cgroup_table(&mut out, &cgroups)?)
    }
}

fn watch(args: WatchArgs) -> Result<()> {
    if args.format.plot && args.output.is_none() {
        bail!("--plot needs -o FILE.svg to write the chart to");
    }
    let pid = Pid(args.pid);
    let hierarchy = CgroupHierarchy::detect().ok();
    let options =
        WatchOptions { interval: Duration::from_millis(args.interval), duration: args.duration };
    let stop = stop_on_interrupt();
    let sample = |sink: &mut dyn SampleSink| {
        memscope_system::watch(pid, hierarchy.as_ref(), &options, stop, sink)
    };
    // Opened first, so that an unwritable file fails before a long watch.
    if let (true, Some(path)) = (args.format.plot, args.output.as_deref()) {
        let mut chart = Replacement::new(path)?;
        let mut samples = Vec::new();
        let end = sample(&mut samples)?;
        write_chart(&mut chart, &samples, pid)?;
        chart.commit()?;
        return report_end(end, pid);
    }
    let mut out = open_samples(args.output.as_deref())?;
    let end = if args.format.json {
        let mut samples = Vec::new();
        let end = sample(&mut samples)?;
        write_json(&mut out, &samples)?;
        end
    } else {
        sample(&mut SampleWriter::new(out, args.format.streamed()))?
    };
    report_end(end, pid)
}

fn report_end(end: WatchEnd, pid: Pid) -> Result<()> {
    if end == WatchEnd::ProcessExited {
        eprintln!("pid {pid} exited");
    }
    Ok(())
}

impl WatchFormat {
    /// The layout of the formats printed while the watch runs.
    fn streamed(&self) -> SampleFormat {
        if self.csv {
            SampleFormat::Csv
        } else {
            SampleFormat::Table
        }
    }
}

/// Standard output, or `path` created new with mode 0600: samples of a process say
/// something about what it is doing, so other users may not read them. An existing
/// file, or a symlink, at the path is an error, never overwritten or followed.
fn open_samples(path: Option<&Path>) -> Result<Box<dyn Write>> {
    let Some(path) = path else {
        return Ok(Box::new(io::stdout().lock()));
    };
    Ok(Box::new(BufWriter::new(create_private(path)?)))
}

/// Writes `value` as indented JSON and a newline. Serialising to a string first
/// keeps write failures plain I/O errors, so that a closed pipe is recognised.
fn write_json(out: &mut dyn Write, value: &impl Serialize) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    write_flushed(out, text.as_bytes()).context("cannot write the output")
}

fn write_chart(out: &mut dyn Write, samples: &[Sample], pid: Pid) -> Result<()> {
    let svg = render_svg(samples, &format!("memscope watch: pid {pid}"))?;
    write_flushed(out, svg.as_bytes()).context("cannot write the chart")
}

/// Flushing is part of writing: a buffered file reports a full disk only then.
fn write_flushed(out: &mut dyn Write, bytes: &[u8]) -> io::Result<()> {
    out.write_all(bytes)?;
    out.flush()
}

/// Parses `--duration`: seconds such as `10` or `0.5`.
fn parse_seconds(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
        .ok_or_else(|| format!("expected seconds, zero or more, such as 10 or 0.5; got {text:?}"))
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_signal: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

/// Makes Ctrl-C end a watch cleanly, so that the JSON or chart of the samples so
/// far is still written.
fn stop_on_interrupt() -> &'static AtomicBool {
    // SAFETY: the handler is a plain `extern "C"` function that lives as long as
    // the program and only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_interrupt as *const () as libc::sighandler_t);
    }
    &INTERRUPTED
}
