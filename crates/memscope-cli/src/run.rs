//! `memscope run`: starts a program with the recorder preloaded, collects what it
//! records, and reports on it.
//!
//! The recorder writes into capture areas in a private session directory; this process
//! drains them (see `memscope-collector`) while the program runs, so nothing of the
//! trace's writing happens in the program.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, ValueEnum};
use memscope_analyze::{Summary, TraceFile};
use memscope_collector::{create_private, RootExit, Session, TraceResult};
use memscope_endpoint::{snapshot_trace, ServeConfig, Server, Source};
use memscope_format::EndReason;
use std::sync::Arc;

use crate::spawn::spawn;
use crate::{summary, trace_input};

/// The preload library's file name, looked for beside the `memscope` executable.
const PRELOAD_NAME: &str = "libmemscope_preload.so";
/// The variable the endpoint's token may come from; the program does not inherit it.
const TOKEN_VARIABLE: &str = "MEMSCOPE_TOKEN";
/// How long the collector sleeps when there was nothing to read: 1 ms, doubled after
/// each idle step up to 4 ms. A program that allocates keeps it at 1 ms (the event
/// clock's step); a sampled or quiet one is woken for less often, which on a machine
/// whose cores the program's threads fill is time given back to them.
const IDLE: Duration = Duration::from_millis(1);
const MAX_IDLE: Duration = Duration::from_millis(4);

/// Run a command and record every allocation and free with its call stack.
#[derive(Args)]
pub struct RunArgs {
    /// Where to write the trace [default: memscope.<program>.<pid>]. An existing file
    /// is never replaced.
    #[arg(short, long, value_name = "TRACE")]
    output: Option<PathBuf>,
    /// How to capture stacks: DWARF CFI (right without frame pointers) or the
    /// frame-pointer chain (faster where every frame keeps one).
    #[arg(long, value_enum, default_value_t = Unwind::Dwarf)]
    unwind: Unwind,
    /// The deepest stack to record (1 to 256).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=256))]
    max_frames: u32,
    /// Which other processes to record: none, those the program starts with exec, or
    /// also forked children that do not exec (each gets TRACE.PID).
    #[arg(long, value_enum, default_value_t = Follow::Exec)]
    follow: Follow,
    /// Sample allocations by bytes: each allocated byte is recorded with probability
    /// 1/BYTES (Go's MemProfileRate; 524288 is Go's default). Reports scale the samples
    /// back and say they are estimates. 0 records every allocation.
    #[arg(long, value_name = "BYTES", default_value_t = 0)]
    sample_rate: u64,
    /// Rotate: the trace becomes a directory of files of about SIZE each (a number of
    /// bytes, or with K, M or G), the newest --keep of them kept.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_size: Option<u64>,
    /// With --max-size: how many files to keep.
    #[arg(long, value_name = "N", requires = "max_size", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    keep: u32,
    /// Serve a live /debug/pprof endpoint from memscope (not from the program) while it
    /// runs, at ADDR [default: 127.0.0.1:6060; `:0` picks a free port]. Loopback only,
    /// unless --allow-remote is given with a token.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:6060")]
    serve: Option<String>,
    /// live: keep only the in-memory state (no trace file; the default with --serve
    /// unless -o or --max-size is given); trace: also write the trace (the default).
    #[arg(long, value_enum)]
    mode: Option<Mode>,
    /// Let --serve listen on a non-loopback address. Every request must then carry
    /// `Authorization: Bearer TOKEN`, the token coming from MEMSCOPE_TOKEN or --token-file.
    #[arg(long, requires = "serve")]
    allow_remote: bool,
    /// The file holding the endpoint's token (its first line).
    #[arg(long, value_name = "FILE", requires = "serve")]
    token_file: Option<PathBuf>,
    /// When the program ends, also write an export of its state there: the format
    /// follows the name (`.pb.gz` pprof, `.json` JSON, otherwise collapsed stacks).
    #[arg(long, value_name = "FILE")]
    export: Option<PathBuf>,
    /// When the program ends, also write the HTML report of its trace to FILE (see
    /// `memscope report`).
    #[arg(long, value_name = "FILE.html")]
    report: Option<PathBuf>,
    /// Leave Python's own small-object allocator on (by default memscope sets
    /// PYTHONMALLOC=malloc, so that every Python allocation reaches malloc).
    #[arg(long)]
    pymalloc: bool,
    /// The command and its arguments.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    command: Vec<OsString>,
}

#[derive(Copy, Clone, ValueEnum)]
enum Unwind {
    Dwarf,
    Fp,
}

#[derive(Copy, Clone, PartialEq, Eq, ValueEnum)]
enum Mode {
    Live,
    Trace,
}

#[derive(Copy, Clone, ValueEnum)]
enum Follow {
    None,
    Exec,
    Fork,
}

pub fn run(args: RunArgs) -> Result<u8> {
    let preload = preload_library()?;
    let program = &args.command[0];
    let explicit = args.output.as_deref().map(check_output).transpose()?;
    let mode = mode_of(&args)?;
    let mut session =
        Session::create(&session_parent()).context("cannot create the session directory")?;
    session.prepare();
    if let Some(max_bytes) = args.max_size {
        session.rotate(max_bytes, args.keep as usize);
    }
    if mode == Mode::Live {
        session.keep_in_memory();
    }
    let server = args.serve.as_ref().map(|address| serve(&args, address, &session)).transpose()?;
    let settings = settings(&args, &preload, session.dir());
    // The endpoint's token is memscope's secret, not the program's.
    let hidden: &[&str] = if server.is_some() { &[TOKEN_VARIABLE] } else { &[] };
    let pid = spawn(&args.command, &settings, hidden).map_err(|err| spawn_error(program, err))?;
    let base = explicit.unwrap_or_else(|| default_trace(program, pid));
    session.set_root(pid, base);
    let exit = collect(&mut session, pid);
    drop(server);
    let traces = session.finish();
    report(&traces);
    let outputs = Outputs { html: args.report.as_deref(), export: args.export.as_deref() };
    outputs.write(&traces);
    Ok(exit_code(exit.status))
}

/// The environment that tells the recorder what to do.
fn settings(args: &RunArgs, preload: &Path, session: &Path) -> Vec<(&'static str, OsString)> {
    let unwind = match args.unwind {
        Unwind::Dwarf => "dwarf",
        Unwind::Fp => "fp",
    };
    let follow = match args.follow {
        Follow::None => "none",
        Follow::Exec => "exec",
        Follow::Fork => "fork",
    };
    let mut settings = vec![
        ("LD_PRELOAD", ld_preload(preload)),
        ("MEMSCOPE_SESSION", session.as_os_str().to_owned()),
        ("MEMSCOPE_UNWIND", unwind.into()),
        ("MEMSCOPE_MAX_FRAMES", args.max_frames.to_string().into()),
        ("MEMSCOPE_FOLLOW", follow.into()),
        ("MEMSCOPE_PARENT", format!("{:010}", std::process::id()).into()),
    ];
    if args.sample_rate > 0 {
        settings.push(("MEMSCOPE_SAMPLE_RATE", args.sample_rate.to_string().into()));
    }
    if !args.pymalloc && std::env::var_os("PYTHONMALLOC").is_none() {
        settings.push(("PYTHONMALLOC", "malloc".into()));
    }
    settings
}

/// A size: bytes, or a number with K, M or G (powers of 1024), more than 0.
fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let lower = text.to_ascii_lowercase();
    let trimmed = lower.trim_end_matches("ib").trim_end_matches('b');
    let (digits, unit) = match trimmed.chars().last() {
        Some('k') => (&trimmed[..trimmed.len() - 1], 1u64 << 10),
        Some('m') => (&trimmed[..trimmed.len() - 1], 1 << 20),
        Some('g') => (&trimmed[..trimmed.len() - 1], 1 << 30),
        _ => (trimmed, 1),
    };
    let number: u64 =
        digits.parse().map_err(|_| format!("{text:?} is not a size (for example 4M)"))?;
    match number.checked_mul(unit) {
        Some(0) => Err("a size of 0 keeps nothing".to_owned()),
        Some(bytes) => Ok(bytes),
        None => Err(format!("{text} is too large")),
    }
}

/// How the started process ended.
struct Exit {
    status: ExitStatus,
}

/// Drains the session until the started process and every process recording with it
/// are gone.
fn collect(session: &mut Session, pid: u32) -> Exit {
    let mut exit: Option<(ExitStatus, RootExit)> = None;
    let ending = ExitWatch::open(pid);
    let mut idle = IDLE;
    let mut may_have_ended = true;
    loop {
        if exit.is_none() && may_have_ended {
            exit = reap(pid);
        }
        let progress = session.step(exit.map(|(_, root)| root));
        if exit.is_some() && session.is_done() {
            break;
        }
        if progress {
            idle = IDLE;
            may_have_ended = true;
        } else {
            may_have_ended = ending.wait(idle, exit.is_some());
            idle = (idle * 2).min(MAX_IDLE);
        }
    }
    Exit { status: exit.map_or(ExitStatus::from_raw(0), |(status, _)| status) }
}

/// Wakes the collector as soon as the started process ends, rather than at the end of
/// an idle sleep: a pidfd turns readable then (Linux 5.3; without one it just sleeps).
struct ExitWatch(Option<std::os::fd::OwnedFd>);

impl ExitWatch {
    fn open(pid: u32) -> Self {
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::c_int, 0) };
        // SAFETY: a descriptor just returned to us, owned by nothing else.
        Self(
            (fd >= 0)
                .then(|| unsafe { std::os::fd::FromRawFd::from_raw_fd(fd as std::os::fd::RawFd) }),
        )
    }

    /// Sleeps for `idle`, or less if the process ends first (`ended`: it has, so only
    /// the sleep is left). Whether the process may have ended meanwhile: false only
    /// when the pidfd says it has not, which saves a `wait4` on every quiet step.
    fn wait(&self, idle: Duration, ended: bool) -> bool {
        let Some(fd) = self.0.as_ref().filter(|_| !ended) else {
            std::thread::sleep(idle);
            return true;
        };
        let mut poll = libc::pollfd {
            fd: std::os::fd::AsRawFd::as_raw_fd(fd),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd, valid for the call.
        let ready = unsafe { libc::poll(&mut poll, 1, idle.as_millis() as libc::c_int) };
        ready != 0
    }
}

/// The started process's status and peak memory, once it has ended.
fn reap(pid: u32) -> Option<(ExitStatus, RootExit)> {
    let mut status = 0;
    // SAFETY: all-zero is a valid rusage, which wait4 fills.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child without blocking.
    let reaped = unsafe { libc::wait4(pid as i32, &mut status, libc::WNOHANG, &mut usage) };
    if reaped != pid as i32 {
        return None;
    }
    let status = ExitStatus::from_raw(status);
    let reason = match status.signal() {
        Some(signal) => EndReason::Signal(signal),
        None => EndReason::Exit,
    };
    Some((status, RootExit { reason, max_rss_bytes: usage.ru_maxrss as u64 * 1024 }))
}

/// Where session directories go: a memory file system if there is one, since the
/// capture areas are shared mappings that should never be written back to a disk.
fn session_parent() -> PathBuf {
    let runtime = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from);
    let candidates = runtime.into_iter().chain([PathBuf::from("/dev/shm")]);
    for dir in candidates {
        if dir.is_dir() && access_writable(&dir) {
            return dir;
        }
    }
    std::env::temp_dir()
}

fn access_writable(dir: &Path) -> bool {
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) else { return false };
    // SAFETY: a NUL-terminated path.
    unsafe { libc::access(path.as_ptr(), libc::W_OK | libc::X_OK) == 0 }
}

/// The shell's codes: 127 for a command that is not there, 126 for one that cannot run.
fn spawn_error(program: &OsString, err: std::io::Error) -> anyhow::Error {
    let name = program.to_string_lossy();
    let code = if err.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 };
    anyhow!(ExitWith(code, format!("cannot run {name}: {err}")))
}

/// An error that carries the process exit code `main` should use.
#[derive(Debug)]
pub struct ExitWith(pub u8, pub String);

impl std::fmt::Display for ExitWith {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.1)
    }
}

impl std::error::Error for ExitWith {}

/// The library embedded in this binary (see build.rs).
static EMBEDDED_PRELOAD: &[u8] = include_bytes!(env!("MEMSCOPE_EMBEDDED_PRELOAD"));

/// The preload library: the one MEMSCOPE_PRELOAD names, or the one beside our own
/// executable (a build tree), or else this binary's own copy, written once to a private
/// cache directory.
fn preload_library() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("MEMSCOPE_PRELOAD") {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("MEMSCOPE_PRELOAD names {}, which is not a file", path.display());
        }
        return Ok(std::path::absolute(path)?);
    }
    let exe = std::env::current_exe().context("cannot locate the memscope executable")?;
    let beside = exe.with_file_name(PRELOAD_NAME);
    if beside.is_file() {
        return Ok(beside);
    }
    embedded_library()
}

/// Writes the embedded library to `CACHE/memscope/libmemscope_preload-HASH.so`, where
/// CACHE is `$XDG_CACHE_HOME` or `~/.cache`, unless it is there already with these
/// bytes. The directory is made owner-only; the file is written under a temporary name
/// and renamed, so a concurrent `memscope run` never loads half a library.
fn embedded_library() -> Result<PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("memscope");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&cache)
        .with_context(|| format!("cannot create {} for the recorder library", cache.display()))?;
    let path = cache.join(format!("libmemscope_preload-{:016x}.so", fnv1a(EMBEDDED_PRELOAD)));
    if std::fs::read(&path).is_ok_and(|bytes| bytes == EMBEDDED_PRELOAD) {
        return Ok(path);
    }
    let (mut file, partial) = create_private(&cache.join(".preload.partial"))
        .with_context(|| format!("cannot write the recorder library in {}", cache.display()))?;
    file.write_all(EMBEDDED_PRELOAD)?;
    drop(file);
    std::fs::rename(&partial, &path)
        .with_context(|| format!("cannot write the recorder library {}", path.display()))?;
    Ok(path)
}

/// A 64-bit FNV-1a hash: names the cached library after its contents.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// Ours first, then whatever the user preloads already.
fn ld_preload(preload: &Path) -> OsString {
    let mut value = preload.as_os_str().to_owned();
    if let Some(existing) = std::env::var_os("LD_PRELOAD").filter(|v| !v.is_empty()) {
        value.push(":");
        value.push(existing);
    }
    value
}

/// The mode asked for. Without `--mode`, a trace is written unless `--serve` is given
/// alone: `-o` or `--max-size` with `--serve` mean the user wants the trace too, and
/// `--mode live` with either is a contradiction, not something to drop silently.
fn mode_of(args: &RunArgs) -> Result<Mode> {
    let wants_trace = args.output.is_some() || args.max_size.is_some();
    match args.mode {
        Some(Mode::Live) if wants_trace => {
            bail!("--mode live writes no trace: drop -o and --max-size, or use --mode trace")
        }
        Some(mode) => Ok(mode),
        None if args.serve.is_some() && !wants_trace => Ok(Mode::Live),
        None => Ok(Mode::Trace),
    }
}

/// `-o PATH`, made absolute (the program may change directory). It must not exist —
/// memscope never replaces a file — and its directory must take a new file, checked
/// now, so that a typo fails before the program runs rather than after.
fn check_output(path: &Path) -> Result<PathBuf> {
    let path = std::path::absolute(path)?;
    if path.symlink_metadata().is_ok() {
        let what = if path.is_dir() { "a directory" } else { "an existing file" };
        bail!("cannot write trace {}: it is {what}, which memscope never replaces", path.display());
    }
    let probe = path.with_file_name(format!(
        ".{}.probe",
        path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    ));
    let (_, probe) =
        create_private(&probe).with_context(|| format!("cannot write trace {}", path.display()))?;
    std::fs::remove_file(probe)?;
    Ok(path)
}

/// `memscope.<program>.<pid>` in the current directory.
fn default_trace(program: &OsString, pid: u32) -> PathBuf {
    let name = Path::new(program)
        .file_name()
        .unwrap_or(program.as_os_str())
        .to_string_lossy()
        .into_owned();
    std::path::absolute(format!("memscope.{name}.{pid}"))
        .unwrap_or_else(|_| format!("memscope.{name}.{pid}").into())
}

/// As shells report it: the exit status, or 128 + the signal that killed it.
fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code as u8,
        (None, Some(signal)) => 128 + signal as u8,
        _ => 1,
    }
}

/// Starts the live endpoint on `address`, serving the program's current image.
fn serve(args: &RunArgs, address: &str, session: &Session) -> Result<Server> {
    let token = match (&args.token_file, std::env::var(TOKEN_VARIABLE)) {
        (Some(file), _) => Some(read_token(file)?),
        (None, Ok(token)) if !token.is_empty() => Some(token),
        _ => None,
    };
    let config =
        ServeConfig { address: address.to_owned(), allow_remote: args.allow_remote, token };
    let source: Arc<dyn Source> = Arc::new(session.current_live());
    let server = Server::start(&config, source, None)?;
    eprintln!("memscope: serving http://{}/debug/pprof/", server.local_addr());
    Ok(server)
}

/// The first line of `file`.
fn read_token(file: &Path) -> Result<String> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the token file {}", file.display()))?;
    let token = text.lines().next().unwrap_or("").trim().to_owned();
    if token.is_empty() {
        bail!("the token file {} is empty", file.display());
    }
    Ok(token)
}

/// What `run` writes when the program ends, besides the trace.
struct Outputs<'a> {
    html: Option<&'a Path>,
    export: Option<&'a Path>,
}

impl Outputs<'_> {
    /// Writes the outputs of the program's trace (or, in live mode, of its last state).
    /// A failure is said, and does not change `run`'s exit status, which is the
    /// program's.
    fn write(&self, traces: &[TraceResult]) {
        if self.html.is_none() && self.export.is_none() {
            return;
        }
        let Some(root) = traces.iter().find(|t| t.is_root) else { return };
        let in_memory =
            root.last.as_ref().map(|(snapshot, end)| snapshot_trace(snapshot, None, Some(end)));
        let path = match &in_memory {
            Some(Ok(trace)) => trace.file().path().to_owned(),
            Some(Err(err)) => return eprintln!("memscope: cannot lay out the last state: {err}"),
            None => root.path.clone(),
        };
        if let Some(html) = self.html {
            match crate::html_report::write_html_report(&path, html) {
                Ok(()) => eprintln!("report: {}", html.display()),
                Err(err) => eprintln!("memscope: cannot write the report: {err:#}"),
            }
        }
        if let Some(export) = self.export {
            match crate::export::export_by_name(&path, export) {
                Ok(()) => eprintln!("export: {}", export.display()),
                Err(err) => eprintln!("memscope: cannot write the export: {err:#}"),
            }
        }
    }
}

/// The summary of the program the user named, then every trace written.
fn report(traces: &[TraceResult]) {
    for trace in traces {
        if let Some(wanted) = &trace.wanted {
            eprintln!(
                "memscope: {} exists, so the trace went to {}",
                wanted.display(),
                trace.path.display()
            );
        }
        if let Some(error) = &trace.write_error {
            eprintln!("memscope: warning: {} is incomplete: {error}", trace.path.display());
        }
    }
    if std::env::var_os("MEMSCOPE_STATS").is_some_and(|v| v == "1") {
        print_stats(traces);
    }
    let Some(root) = traces.iter().find(|t| t.is_root) else {
        eprintln!(
            "memscope: no trace was written for the program: it may be statically linked or setuid, which ignore LD_PRELOAD"
        );
        list_traces(traces);
        return;
    };
    if let Some((snapshot, end)) = &root.last {
        // Live mode: the summary of the last state, kept in memory only.
        match snapshot_trace(snapshot, None, Some(end)) {
            Ok(trace) => print_summary_of(std::slice::from_ref(trace.file())),
            Err(err) => eprintln!("memscope: cannot lay out the last state: {err}"),
        }
        eprintln!("(live mode: no trace was written)");
        return;
    }
    print_summary(&root.path);
    if traces.len() > 1 {
        list_traces(traces);
    }
}

fn print_summary(trace: &Path) {
    match trace_input::open(trace) {
        Ok(files) => print_summary_of(files.files()),
        Err(e) => eprintln!("memscope: cannot read the trace: {e:#}"),
    }
    eprintln!("trace: {}", trace.display());
}

fn print_summary_of(files: &[TraceFile]) {
    match trace_input::recording(files) {
        Ok(input) => {
            // The collector's own totals make this instant; a trace cut off is replayed.
            let recording = &input.recording;
            let summary =
                Summary::from_recorder(recording).unwrap_or_else(|| Summary::compute(recording));
            let _ = summary::write_text(&mut std::io::stderr().lock(), recording.meta(), &summary);
        }
        Err(e) => eprintln!("memscope: cannot read the trace: {e:#}"),
    }
}

fn list_traces(traces: &[TraceResult]) {
    if traces.is_empty() {
        return;
    }
    eprintln!("traces written:");
    // The program's own first, then the others in the order they ended.
    let (root, others): (Vec<&TraceResult>, Vec<&TraceResult>) =
        traces.iter().partition(|trace| trace.is_root);
    for trace in root.into_iter().chain(others) {
        let role = match (trace.is_root, trace.exec) {
            (true, _) => "the program",
            (false, true) => "replaced by exec",
            (false, false) => "process",
        };
        eprintln!(
            "  {}  pid {} ({role}): {}",
            trace.path.display(),
            trace.pid,
            trace.command.join(" ")
        );
    }
}

/// `MEMSCOPE_STATS=1`: what the collector counted, and its CPU time, which is the part
/// of the recorder's cost that runs beside the program rather than in it.
fn print_stats(traces: &[TraceResult]) {
    for trace in traces {
        let stats = &trace.stats;
        eprintln!(
            "memscope: {}: stack captures {} (ended threads), memo hits {}, frees without a seen allocation {}, slots lost {}, events skipped {}",
            trace.path.display(),
            stats.captures.0,
            stats.captures.1,
            stats.untracked_frees,
            stats.lost_slots,
            stats.skipped,
        );
    }
    eprintln!("memscope: collector CPU {} ms", own_cpu_ms());
}

fn own_cpu_ms() -> u64 {
    // SAFETY: getrusage writes the struct it is given; all-zero is a valid rusage.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let ms = |t: libc::timeval| t.tv_sec as u64 * 1000 + t.tv_usec as u64 / 1000;
    ms(usage.ru_utime) + ms(usage.ru_stime)
}
