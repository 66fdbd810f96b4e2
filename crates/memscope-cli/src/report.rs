//! What every report shares: output format, filters, frame trimming, what is counted,
//! and for reports about one moment, which moment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Args, ValueEnum};
use memscope_analyze::{
    thread_names, AllocFns, EventFilter, Filter, Moment, Peak, Recording, SampleType, StackSymbols,
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
    /// Count only the allocations and frees made by one thread, given by its id or its
    /// name (as `summary` lists them).
    #[arg(long, value_name = "TID|NAME")]
    thread: Option<String>,
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

/// The regular expressions of the stack options that hold for every recording.
pub struct Patterns {
    alloc_fns: AllocFns,
}

/// A report that lists the first N of what it found: its trace, N, and the usual
/// report options.
#[derive(Args)]
pub struct ListArgs {
    /// The trace to read.
    pub trace: PathBuf,
    /// Show at most N rows (0 for all).
    #[arg(short = 'n', long = "limit", value_name = "N", default_value_t = 10)]
    pub limit: usize,
    #[command(flatten)]
    pub report: ReportArgs,
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
    let mut prepared = args.prepare(&input.recording, &patterns)?;
    report(&input.recording, &mut prepared)?;
    RebuiltModules::default().warn(&prepared.symbols);
    drop(prepared);
    input.warn();
    Ok(0)
}

impl StackArgs {
    /// The regular expressions, compiled (and so checked) before any work is done.
    pub fn patterns(&self) -> Result<Patterns> {
        self.filter(None)?;
        Ok(Patterns { alloc_fns: AllocFns::new(&self.alloc_fn)? })
    }

    /// The filters, counting only `thread`'s events if given: made for each recording
    /// once `--thread` is resolved in it.
    fn filter(&self, thread: Option<ThreadId>) -> Result<Filter> {
        let filter = Filter::new(self.focus.as_deref(), self.ignore.as_deref(), thread)?;
        Ok(filter.with_tag(self.tag.clone()))
    }

    /// The thread `--thread` names in `recording`: a thread id, or else the name of
    /// exactly one thread. One that made no events there is a mistake, not an empty
    /// report.
    fn thread_in(&self, recording: &Recording) -> Result<Option<ThreadId>> {
        let Some(wanted) = &self.thread else { return Ok(None) };
        let threads = recording.threads();
        let names = thread_names(recording);
        if let Some(id) = wanted.parse().ok().map(ThreadId).filter(|id| threads.contains(id)) {
            return Ok(Some(id));
        }
        let named: Vec<ThreadId> =
            threads.iter().copied().filter(|t| names.get(t) == Some(wanted)).collect();
        match named[..] {
            [one] => Ok(Some(one)),
            [] => anyhow::bail!(
                "--thread {wanted}: no such thread in {} (its threads: {})",
                recording.path().display(),
                thread_list(threads, &names)
            ),
            _ => anyhow::bail!(
                "--thread {wanted}: {} threads of {} have that name; give one's id ({})",
                named.len(),
                recording.path().display(),
                thread_list(named, &names)
            ),
        }
    }

    /// Symbols for `recording`, and the filters resolved to its stacks and threads.
    pub fn prepare<'r>(
        &self,
        recording: &'r Recording,
        patterns: &Patterns,
    ) -> Result<Prepared<'r>> {
        let filter = self.filter(self.thread_in(recording)?)?;
        let mut symbols = StackSymbols::new(recording, self.keep_frames)
            .with_alloc_fns(patterns.alloc_fns.clone())
            .with_full_names(self.full_names);
        let filter = filter.resolve(&mut symbols);
        Ok(Prepared { symbols, filter })
    }
}

/// Threads as error messages list them: "4242 (main), 4243 (worker)", a thread whose
/// name is unknown by its id alone.
fn thread_list(
    threads: impl IntoIterator<Item = ThreadId>,
    names: &BTreeMap<ThreadId, String>,
) -> String {
    let labels: Vec<String> = threads
        .into_iter()
        .map(|thread| match names.get(&thread) {
            Some(name) => format!("{} ({name})", thread.0),
            None => thread.0.to_string(),
        })
        .collect();
    labels.join(", ")
}

/// Under `--thread`, a line saying why a total is negative: the thread freed blocks
/// that other threads allocated, and a free counts against the stack that allocated.
pub fn negative_note(filter: &EventFilter, total: i64) -> Option<String> {
    let thread = filter.thread()?;
    (total < 0).then(|| {
        format!(
            "note: thread {} freed more than it allocated here: it frees blocks other threads allocated, and each free counts against the stack that allocated the block",
            thread.0
        )
    })
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
