//! Per-process memory, read from `/proc/PID/smaps_rollup`.

use std::collections::HashMap;
use std::fmt;

use procfs::process::Process;
use procfs::ProcError;
use serde::Serialize;

use crate::{CgroupHierarchy, Error};

/// The kernel's `PF_KTHREAD` flag in `/proc/PID/stat`: kernel threads own no user
/// memory, so they are left out rather than counted as unreadable.
const PF_KTHREAD: u32 = 0x0020_0000;

/// A process id, as the kernel numbers processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Pid(pub i32);

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// How much memory one process holds, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MemoryUsage {
    /// Resident set size: every page mapped and in RAM, shared or not.
    pub rss_bytes: u64,
    /// Proportional set size: each shared page divided among the processes sharing it,
    /// so that summing PSS over all processes does not count a page twice.
    pub pss_bytes: u64,
    /// Unique set size: the pages only this process maps, which its exit would free.
    pub uss_bytes: u64,
    /// Memory of this process that the kernel moved out to swap.
    pub swap_bytes: u64,
}

impl MemoryUsage {
    /// Reads the `Key: N kB` lines of `smaps_rollup`, already converted to bytes.
    fn from_rollup(fields: &HashMap<String, u64>) -> Self {
        let field = |key: &str| fields.get(key).copied().unwrap_or(0);
        MemoryUsage {
            rss_bytes: field("Rss"),
            pss_bytes: field("Pss"),
            uss_bytes: field("Private_Clean") + field("Private_Dirty"),
            swap_bytes: field("Swap"),
        }
    }
}

/// One process in the ranking of `memscope ps`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProcessMemory {
    /// The process.
    pub pid: Pid,
    /// Its command line, or its name when the command line is empty.
    pub command: String,
    /// What it holds.
    #[serde(flatten)]
    pub usage: MemoryUsage,
    /// Its memory cgroup, as `/proc/PID/cgroup` names it; `None` when unknown.
    pub cgroup: Option<String>,
}

/// The memory figure that ranks processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    /// [`MemoryUsage::rss_bytes`].
    Rss,
    /// [`MemoryUsage::pss_bytes`].
    Pss,
    /// [`MemoryUsage::uss_bytes`].
    Uss,
    /// [`MemoryUsage::swap_bytes`].
    Swap,
}

impl SortKey {
    fn of(self, usage: &MemoryUsage) -> u64 {
        match self {
            SortKey::Rss => usage.rss_bytes,
            SortKey::Pss => usage.pss_bytes,
            SortKey::Uss => usage.uss_bytes,
            SortKey::Swap => usage.swap_bytes,
        }
    }
}

/// Every process that could be read, and how many could not.
#[derive(Clone, Debug, Default)]
pub struct ProcessScan {
    /// The processes read, in the order of `/proc` until [`ProcessScan::sort`].
    pub processes: Vec<ProcessMemory>,
    /// Processes left out because reading them was denied or they exited mid-scan.
    /// Kernel threads and zombies hold no user memory and are not counted here.
    pub skipped: usize,
}

impl ProcessScan {
    /// Orders the processes by `key`, largest first; equal figures keep pid order so
    /// that the output is stable from one run to the next.
    pub fn sort(&mut self, key: SortKey) {
        self.processes
            .sort_by(|a, b| key.of(&b.usage).cmp(&key.of(&a.usage)).then(a.pid.cmp(&b.pid)));
    }
}

/// Reads the memory of every process on the system.
///
/// `hierarchy` names each process's memory cgroup; without it the cgroups are `None`.
/// Only failing to list `/proc` itself is an error: a process that cannot be read is
/// counted in [`ProcessScan::skipped`], since processes come and go during a scan.
pub fn scan_processes(hierarchy: Option<&CgroupHierarchy>) -> Result<ProcessScan, Error> {
    let processes = procfs::process::all_processes()
        .map_err(|source| Error::ProcFs { path: "/proc", source })?;
    let mut scan = ProcessScan::default();
    for process in processes {
        let Ok(process) = process else {
            scan.skipped += 1;
            continue;
        };
        match read_process(&process, hierarchy) {
            Ok(Some(row)) => scan.processes.push(row),
            Ok(None) => {}
            Err(_) => scan.skipped += 1,
        }
    }
    Ok(scan)
}

/// One row of the scan; `None` for a process without user memory.
fn read_process(
    process: &Process,
    hierarchy: Option<&CgroupHierarchy>,
) -> Result<Option<ProcessMemory>, Error> {
    let Some(usage) = read_usage(process)? else {
        return Ok(None);
    };
    Ok(Some(ProcessMemory {
        pid: Pid(process.pid()),
        command: command(process)?,
        usage,
        cgroup: hierarchy.and_then(|hierarchy| hierarchy.process_cgroup(process)),
    }))
}

/// The command line joined by spaces, or the process name for a process that
/// cleared its arguments.
fn command(process: &Process) -> Result<String, Error> {
    let pid = Pid(process.pid());
    let args = process.cmdline().map_err(|err| proc_error(pid, err))?;
    if args.is_empty() {
        return Ok(process.stat().map_err(|err| proc_error(pid, err))?.comm);
    }
    Ok(args.join(" "))
}

/// Reads what a process holds; `None` for kernel threads and zombies, which have no
/// address space left to measure.
pub(crate) fn read_usage(process: &Process) -> Result<Option<MemoryUsage>, Error> {
    let pid = Pid(process.pid());
    let stat = process.stat().map_err(|err| proc_error(pid, err))?;
    if stat.flags & PF_KTHREAD != 0 || matches!(stat.state, 'Z' | 'X') {
        return Ok(None);
    }
    let rollup = process.smaps_rollup().map_err(|err| proc_error(pid, err))?;
    Ok(rollup
        .memory_map_rollup
        .0
        .first()
        .map(|rollup| MemoryUsage::from_rollup(&rollup.extension.map)))
}

/// Opens `/proc/PID`, telling a missing process from an unreadable one.
pub(crate) fn open_process(pid: Pid) -> Result<Process, Error> {
    Process::new(pid.0).map_err(|err| proc_error(pid, err))
}

/// Names what went wrong for the user. A process that exits while its files are
/// open makes reads fail with `ESRCH`, which `procfs` reports as incomplete data or
/// as a plain I/O error: both mean the process is gone.
fn proc_error(pid: Pid, err: ProcError) -> Error {
    match err {
        ProcError::NotFound(_) | ProcError::Incomplete(_) => Error::NoSuchProcess { pid },
        ProcError::Io(ref io, _) if io.raw_os_error() == Some(libc::ESRCH) => {
            Error::NoSuchProcess { pid }
        }
        ProcError::PermissionDenied(_) => Error::PermissionDenied { pid },
        source => Error::Proc { pid, source },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(rss: u64, swap: u64) -> MemoryUsage {
        MemoryUsage { rss_bytes: rss, swap_bytes: swap, ..MemoryUsage::default() }
    }

    fn row(pid: i32, usage: MemoryUsage) -> ProcessMemory {
        ProcessMemory { pid: Pid(pid), command: format!("cmd{pid}"), usage, cgroup: None }
    }

    #[test]
    fn uss_is_private_clean_plus_private_dirty() {
        let fields = [
            ("Rss", 1_802_240),
            ("Pss", 336_896),
            ("Shared_Clean", 1_646_592),
            ("Private_Clean", 40_960),
            ("Private_Dirty", 114_688),
            ("Swap", 8192),
        ]
        .map(|(key, value)| (key.to_string(), value))
        .into();
        let usage = MemoryUsage::from_rollup(&fields);
        assert_eq!(
            usage,
            MemoryUsage {
                rss_bytes: 1_802_240,
                pss_bytes: 336_896,
                uss_bytes: 155_648,
                swap_bytes: 8192,
            }
        );
    }

    #[test]
    fn sort_is_largest_first_then_by_pid() {
        let mut scan = ProcessScan {
            processes: vec![row(3, usage(10, 0)), row(1, usage(30, 5)), row(2, usage(10, 9))],
            skipped: 0,
        };
        scan.sort(SortKey::Rss);
        let pids: Vec<i32> = scan.processes.iter().map(|p| p.pid.0).collect();
        assert_eq!(pids, [1, 2, 3]);
        scan.sort(SortKey::Swap);
        let pids: Vec<i32> = scan.processes.iter().map(|p| p.pid.0).collect();
        assert_eq!(pids, [2, 1, 3]);
    }

    #[test]
    fn json_row_has_the_documented_flat_fields() {
        let mut process = row(7, usage(4096, 0));
        process.cgroup = Some("/user.slice".into());
        let json = serde_json::to_value(&process).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "pid": 7, "command": "cmd7", "rss_bytes": 4096, "pss_bytes": 0,
                "uss_bytes": 0, "swap_bytes": 0, "cgroup": "/user.slice"
            })
        );
    }
}
