//! `memscope run`: starts a program with the recorder preloaded and reports on it.

use std::ffi::OsString;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, ValueEnum};
use memscope_analyze::Summary;

use crate::{summary, trace_input};

/// The preload library's file name, looked for beside the `memscope` executable.
const PRELOAD_NAME: &str = "libmemscope_preload.so";

/// Run a command and record every allocation and free with its call stack.
#[derive(Args)]
pub struct RunArgs {
    /// Where to write the trace [default: memscope.<program>.<pid>].
    #[arg(short, long, value_name = "TRACE")]
    output: Option<PathBuf>,
    /// How to capture stacks: DWARF CFI (right without frame pointers) or the
    /// frame-pointer chain (faster where every frame keeps one).
    #[arg(long, value_enum, default_value_t = Unwind::Dwarf)]
    unwind: Unwind,
    /// The deepest stack to record (1 to 256).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=256))]
    max_frames: u32,
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

pub fn run(args: RunArgs) -> Result<u8> {
    let preload = preload_library()?;
    let program = &args.command[0];
    let pattern = trace_pattern(args.output.as_deref(), program)?;
    let mut command = Command::new(program);
    command
        .args(&args.command[1..])
        .env("LD_PRELOAD", ld_preload(&preload))
        .env("MEMSCOPE_OUTPUT", &pattern)
        .env(
            "MEMSCOPE_UNWIND",
            match args.unwind {
                Unwind::Dwarf => "dwarf",
                Unwind::Fp => "fp",
            },
        )
        .env("MEMSCOPE_MAX_FRAMES", args.max_frames.to_string());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe { command.pre_exec(restore_signals) };
    let (pid, status) = with_signals_ignored(|| {
        let mut child = command.spawn()?;
        Ok((child.id(), child.wait()?))
    })
    .map_err(|err| spawn_error(program, err))?;
    let trace = PathBuf::from(pattern.to_string_lossy().replace("%p", &pid.to_string()));
    report(&trace);
    Ok(exit_code(status))
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

/// Beside our own executable, unless MEMSCOPE_PRELOAD names it.
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
    bail!("cannot find {PRELOAD_NAME} beside {}; build it with `cargo build --release` or set MEMSCOPE_PRELOAD", exe.display())
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

/// An absolute path (the program may change directory) with `%p` for the pid. An
/// explicit path is checked for writability now, so that a typo fails before the
/// program runs rather than after.
fn trace_pattern(output: Option<&Path>, program: &OsString) -> Result<OsString> {
    let Some(path) = output else {
        let name = Path::new(program)
            .file_name()
            .unwrap_or(program.as_os_str())
            .to_string_lossy()
            .into_owned();
        return Ok(std::path::absolute(format!("memscope.{name}.%p"))?.into_os_string());
    };
    let path = std::path::absolute(path)?;
    if path.is_dir() {
        bail!("cannot write trace {}: it is a directory", path.display());
    }
    if path.exists() {
        std::fs::remove_file(&path)
            .with_context(|| format!("cannot replace trace {}", path.display()))?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot write trace {}", path.display()))?;
    std::fs::remove_file(&path)?;
    Ok(path.into_os_string())
}

/// The program, not memscope, should get Ctrl-C from the terminal; memscope waits to
/// report on the trace.
fn with_signals_ignored<T>(spawn: impl FnOnce() -> std::io::Result<T>) -> std::io::Result<T> {
    // SAFETY: setting dispositions to SIG_IGN and back has no memory-safety effects.
    let previous = unsafe {
        [libc::signal(libc::SIGINT, libc::SIG_IGN), libc::signal(libc::SIGQUIT, libc::SIG_IGN)]
    };
    let result = spawn();
    // SAFETY: as above, restoring what was there.
    unsafe {
        libc::signal(libc::SIGINT, previous[0]);
        libc::signal(libc::SIGQUIT, previous[1]);
    }
    result
}

fn restore_signals() -> std::io::Result<()> {
    // SAFETY: signal is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
        libc::signal(libc::SIGQUIT, libc::SIG_DFL);
    }
    Ok(())
}

/// As shells report it: the exit status, or 128 + the signal that killed it.
fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code as u8,
        (None, Some(signal)) => 128 + signal as u8,
        _ => 1,
    }
}

fn report(trace: &Path) {
    if !trace.exists() {
        eprintln!(
            "memscope: no trace was written to {}: the program may be statically linked or setuid, which ignore LD_PRELOAD",
            trace.display()
        );
        return;
    }
    let loaded = trace_input::open(trace).and_then(|file| {
        let input = trace_input::recording(&file)?;
        // The recorder's own totals make this instant; a trace cut off is replayed.
        let recording = &input.recording;
        let summary =
            Summary::from_recorder(recording).unwrap_or_else(|| Summary::compute(recording));
        let _ =
            summary::write_text(&mut std::io::stderr().lock(), input.recording.meta(), &summary);
        Ok(())
    });
    if let Err(e) = loaded {
        eprintln!("memscope: cannot read the trace: {e:#}");
    }
    eprintln!("trace: {}", trace.display());
}
