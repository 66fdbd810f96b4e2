//! What every report shares: output format, filters, frame trimming, what is counted,
//! and for reports about one moment, which moment.

use std::path::Path;

use anyhow::Result;
use clap::{Args, ValueEnum};
use memscope_analyze::{
    AllocFns, EventFilter, Filter, Moment, Peak, Recording, SampleType, StackSymbols,
};
use memscope_format::ThreadId;

use crate::output::{moment_name, ms};
use crate::rebuilt_modules::RebuiltModules;
use crate::time_arg::{parse_moment, parse_window, TimeArg, WindowArg};
use crate::trace_input;

/// Options every report takes.
#[derive(Args)]
pub struct ReportArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub stacks: StackArgs,
}

/// Which stacks and threads count, and how stacks are shown: the options of every
/// report and export.
#[derive(Args, Default)]
pub struct StackArgs {
    /// Keep only stacks with a frame whose function, source file or module matches REGEX.
    #[arg(long, value_name = "REGEX")]
    focus: Option<String>,
    /// Drop stacks with a frame whose function, source file or module matches REGEX.
    #[arg(long, value_name = "REGEX")]
    ignore: Option<String>,
    /// Keep only the allocations made under owner tag NAME (the memscope crate's tags).
    #[arg(long, value_name = "NAME")]
    tag: Option<String>,
    /// Count only the allocations and frees made by thread TID.
    #[arg(long, value_name = "TID")]
    thread: Option<u32>,
    /// Treat functions matching REGEX as allocation wrappers, hidden with the allocator's
    /// frames (repeatable; well-known wrappers such as xmalloc, g_malloc, PyMem_Malloc
    /// and jv_mem_alloc are built in).
    #[arg(long, value_name = "REGEX")]
    alloc_fn: Vec<String>,
    /// Show the allocator's own frames (malloc, operator new, Rust's alloc::, allocation
    /// wrappers) at the innermost end of stacks, which are hidden by default.
    #[arg(long)]
    keep_frames: bool,
    /// Show C++ and Rust functions by their whole names: template arguments and parameter
    /// lists, which are shortened to `<…>` and left out by default.
    #[arg(long)]
    full_names: bool,
}

/// The regular expressions of the stack options, compiled before any work is done.
pub struct Patterns {
    filter: Filter,
    alloc_fns: AllocFns,
}

/// A recording made ready for a report: its symbols and the events to count.
pub struct Prepared<'r> {
    /// The recording's stacks, symbolized on demand.
    pub symbols: StackSymbols<'r>,
    /// What the filters keep.
    pub filter: EventFilter,
}

/// Opens `trace`, makes it ready for a report with `args`, runs `report` on it, and
/// warns on stderr of damage found on opening or while decoding, and of modules rebuilt
/// since they were recorded.
pub fn run_report(
    trace: &Path,
    args: &StackArgs,
    report: impl FnOnce(&Recording, &mut Prepared) -> Result<()>,
) -> Result<u8> {
    let patterns = args.patterns()?;
    let file = trace_input::open(trace)?;
    let mut input = trace_input::recording(file.files())?;
    args.check_thread(&input.recording)?;
    let mut prepared = args.prepare(&input.recording, &patterns);
    report(&input.recording, &mut prepared)?;
    RebuiltModules::default().warn(&prepared.symbols);
    drop(prepared);
    input.warn();
    Ok(0)
}

impl StackArgs {
    /// The filters and wrappers, checked before any work is done.
    pub fn patterns(&self) -> Result<Patterns> {
        let filter =
            Filter::new(self.focus.as_deref(), self.ignore.as_deref(), self.thread.map(ThreadId))?;
        let alloc_fns = AllocFns::new(&self.alloc_fn)?;
        Ok(Patterns { filter: filter.with_tag(self.tag.clone()), alloc_fns })
    }

    /// A `--thread` that made no events in `recording` is a mistake, not an empty report.
    fn check_thread(&self, recording: &Recording) -> Result<()> {
        let Some(thread) = self.thread else { return Ok(()) };
        let threads = recording.threads();
        if threads.contains(&ThreadId(thread)) {
            return Ok(());
        }
        let known: Vec<String> = threads.iter().map(|t| t.0.to_string()).collect();
        anyhow::bail!(
            "--thread {thread}: no such thread in {} (its threads: {})",
            recording.path().display(),
            known.join(", ")
        )
    }

    /// Symbols for `recording`, and the filters resolved to its stacks.
    pub fn prepare<'r>(&self, recording: &'r Recording, patterns: &Patterns) -> Prepared<'r> {
        let mut symbols = StackSymbols::new(recording, self.keep_frames)
            .with_alloc_fns(patterns.alloc_fns.clone())
            .with_full_names(self.full_names);
        let filter = patterns.filter.resolve(&mut symbols);
        Prepared { symbols, filter }
    }
}

/// Which moment a report is about.
#[derive(Args)]
#[group(multiple = false)]
pub struct MomentArgs {
    /// At MS milliseconds after the start (after every event of that microsecond), or
    /// at a moment a report printed, MS#EVENTS (after the first EVENTS events of that
    /// clock tick, counting what the filters keep: give the report's filters).
    #[arg(long, value_name = "MS[#EVENTS]", value_parser = parse_moment)]
    at: Option<TimeArg>,
    /// At the peak of the live heap (of what the filters keep).
    #[arg(long)]
    peak: bool,
    /// At the highest live heap inside FROM:TO milliseconds (TO not included), as
    /// `timeline` finds each row's high.
    #[arg(long, value_name = "FROM:TO", value_parser = parse_window)]
    peak_in: Option<WindowArg>,
    /// At the end of the recording [default].
    #[arg(long)]
    end: bool,
}

/// A moment chosen, and how to name it.
pub struct ChosenMoment {
    /// The moment.
    pub moment: Moment,
    /// "412.345#17 (peak)", "1000.000 ms (end)" or "250.000 ms".
    pub label: String,
}

impl MomentArgs {
    /// Whether any of --at, --peak and --end was given.
    pub fn given(&self) -> bool {
        self.at.is_some() || self.peak || self.end || self.peak_in.is_some()
    }

    /// The moment asked for; fails for a time outside the recording.
    pub fn choose(&self, recording: &Recording, filter: &EventFilter) -> Result<ChosenMoment> {
        if let Some(at) = &self.at {
            at.check_within("--at", recording)?;
            return Ok(ChosenMoment { moment: at.moment(), label: format!("{} ms", at.name()) });
        }
        if let Some(window) = &self.peak_in {
            let peak = window.peak(recording, filter)?;
            return Ok(ChosenMoment::peak(peak, &format!("peak in {} ms", window.text())));
        }
        if self.peak {
            return Ok(ChosenMoment::peak(Peak::find(recording, filter), "peak"));
        }
        let label = format!("{} ms (end)", ms(recording.end_ns()));
        Ok(ChosenMoment { moment: Moment::End, label })
    }
}

impl ChosenMoment {
    /// The moment of `peak`, named as `--at` takes it back.
    pub fn peak(peak: Peak, what: &str) -> ChosenMoment {
        let label = format!("{} ms ({what})", moment_name(peak.time_ns, peak.events_at_time));
        ChosenMoment { moment: Moment::Peak(peak), label }
    }
}

/// What to count, in pprof's names.
#[derive(Copy, Clone, ValueEnum)]
pub enum By {
    #[value(name = "inuse_space")]
    InuseSpace,
    #[value(name = "inuse_objects")]
    InuseObjects,
    #[value(name = "alloc_space")]
    AllocSpace,
    #[value(name = "alloc_objects")]
    AllocObjects,
}

impl From<By> for SampleType {
    fn from(by: By) -> Self {
        match by {
            By::InuseSpace => SampleType::InuseSpace,
            By::InuseObjects => SampleType::InuseObjects,
            By::AllocSpace => SampleType::AllocSpace,
            By::AllocObjects => SampleType::AllocObjects,
        }
    }
}
