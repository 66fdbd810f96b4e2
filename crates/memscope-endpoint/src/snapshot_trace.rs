//! A live snapshot as a trace: one segment whose checkpoint holds the totals, with the
//! module map, the stacks it uses and an end record. Written to an anonymous memory
//! file and opened like any trace, so the live profiles go through the very analysis
//! and writers that reports and exports use: the same symbols, trimming and pprof.

use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};

use memscope_analyze::TraceFile;
use memscope_collector::LiveSnapshot;
use memscope_format::{
    End, EndReason, ModuleMap, RunTotals, SegmentStart, StackDef, StackTotals, TraceWriter,
};

/// The totals of `snapshot`, less those of `baseline` when one is given (a delta
/// profile, as `?seconds=N` asks: everything allocated, freed and kept in between).
fn totals(snapshot: &LiveSnapshot, baseline: Option<&LiveSnapshot>) -> Vec<StackTotals> {
    let Some(base) = baseline else { return snapshot.totals.clone() };
    let before: std::collections::HashMap<_, _> =
        base.totals.iter().map(|t| (t.stack, t)).collect();
    snapshot
        .totals
        .iter()
        .map(|now| match before.get(&now.stack) {
            Some(then) => StackTotals {
                stack: now.stack,
                live_bytes: now.live_bytes.wrapping_sub(then.live_bytes),
                live_blocks: now.live_blocks.wrapping_sub(then.live_blocks),
                alloc_bytes: now.alloc_bytes - then.alloc_bytes,
                alloc_blocks: now.alloc_blocks - then.alloc_blocks,
            },
            None => now.clone(),
        })
        .filter(|t| t.alloc_blocks > 0 || t.live_blocks != 0)
        .collect()
}

/// A snapshot's trace, in memory: opened, and reachable by its path
/// (`/proc/self/fd/N`) while this value lives.
pub struct SnapshotTrace {
    file: TraceFile,
    /// Holds the memory file open, so the path stays valid.
    _memory: File,
}

impl SnapshotTrace {
    /// The opened trace.
    pub fn file(&self) -> &TraceFile {
        &self.file
    }
}

/// Writes the snapshot as a trace in memory and opens it. `end` gives how the recording
/// ended, for a last snapshot.
pub fn snapshot_trace(
    snapshot: &LiveSnapshot,
    baseline: Option<&LiveSnapshot>,
    end: Option<&End>,
) -> io::Result<SnapshotTrace> {
    let file = memory_file()?;
    let totals = totals(snapshot, baseline);
    let used: HashSet<u32> = totals.iter().map(|t| t.stack.0).collect();
    let stacks: Vec<StackDef> =
        snapshot.stack_defs().into_iter().filter(|d| used.contains(&d.id.0)).collect();
    let (frees, temporary) = match baseline {
        Some(base) => (snapshot.frees - base.frees, snapshot.temporary - base.temporary),
        None => (snapshot.frees, snapshot.temporary),
    };
    let run = run_totals(&totals, frees, temporary, snapshot);
    let to_io = |err: memscope_format::FormatError| io::Error::other(err.to_string());
    let mut writer = TraceWriter::new(&file, &snapshot.meta, 1).map_err(to_io)?;
    let time_ns = snapshot.time_ns;
    writer
        .write_segment_start(&SegmentStart { index: 0, time_ns, temporary, frees, stacks: totals })
        .map_err(to_io)?;
    writer
        .write_modules(&ModuleMap { time_ns, modules: snapshot.modules.clone() })
        .map_err(to_io)?;
    writer.write_stacks(&stacks).map_err(to_io)?;
    let end = match end {
        Some(end) => End { totals: Some(run), time_ns: end.time_ns.max(time_ns), ..end.clone() },
        None => End {
            time_ns,
            reason: EndReason::Exit,
            peak_rss_bytes: snapshot.peak_rss_bytes,
            dropped_events: 0,
            totals: Some(run),
            threads: Vec::new(),
        },
    };
    writer.write_end(&end).map_err(to_io)?;
    drop(writer);
    let path = std::path::PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
    let opened = TraceFile::open(&path).map_err(|err| io::Error::other(err.to_string()))?;
    Ok(SnapshotTrace { file: opened, _memory: file })
}

fn run_totals(
    totals: &[StackTotals],
    frees: u64,
    temporary: u64,
    snapshot: &LiveSnapshot,
) -> RunTotals {
    let mut run = RunTotals {
        frees,
        temporary,
        peak_bytes: snapshot.peak_bytes,
        peak_time_ns: snapshot.peak_time_ns,
        threads: snapshot.threads,
        ..RunTotals::default()
    };
    for t in totals {
        run.allocations += t.alloc_blocks;
        run.bytes_allocated += t.alloc_bytes;
        run.leaked_blocks = run.leaked_blocks.wrapping_add(t.live_blocks);
        run.leaked_bytes = run.leaked_bytes.wrapping_add(t.live_bytes);
    }
    run
}

/// A file in memory only, gone once closed.
fn memory_file() -> io::Result<File> {
    // SAFETY: memfd_create takes a NUL-terminated name and flags; a descriptor it
    // returns is ours.
    let fd = unsafe { libc::memfd_create(c"memscope-live".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor we own.
    Ok(unsafe { File::from_raw_fd(fd) })
}
