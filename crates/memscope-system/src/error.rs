//! The one error type of this crate.

use std::io;
use std::path::PathBuf;

use crate::process::Pid;

/// Everything that can go wrong while reading the system's memory state.
///
/// Each variant names what was being read (a pid, a path), so that the message alone
/// tells the user where to look. Sources are kept as sources, never repeated in the
/// message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No process has this pid, or it exited before it could be read.
    #[error("no process with pid {pid}")]
    NoSuchProcess {
        /// The pid that was asked for.
        pid: Pid,
    },
    /// The process exists, but the kernel lets only a process with its owner and at
    /// least its privileges read its memory map (root without one of the process's
    /// capabilities is refused too, as for pid 1 in a container).
    #[error("permission denied reading the memory of pid {pid}: only a process of its owner with at least its privileges may (root lacking one of its capabilities may not)")]
    PermissionDenied {
        /// The pid that was asked for.
        pid: Pid,
    },
    /// The process has no user memory to measure: a kernel thread or a zombie.
    #[error("pid {pid} has no user memory (it is a kernel thread or a zombie)")]
    NoAddressSpace {
        /// The pid that was asked for.
        pid: Pid,
    },
    /// A file under `/proc/PID` could not be read for another reason.
    #[error("cannot read /proc/{pid}")]
    Proc {
        /// The process whose files were being read.
        pid: Pid,
        /// What the `procfs` crate reported.
        #[source]
        source: procfs::ProcError,
    },
    /// A system-wide file under `/proc` could not be read.
    #[error("cannot read {path}")]
    ProcFs {
        /// The file or directory, such as `/proc/self/mountinfo`.
        path: &'static str,
        /// What the `procfs` crate reported.
        #[source]
        source: procfs::ProcError,
    },
    /// Neither a cgroup v1 memory controller nor a cgroup v2 hierarchy is mounted.
    #[error("no memory cgroup hierarchy is mounted (looked in /proc/self/mountinfo)")]
    NoMemoryHierarchy,
    /// A cgroup file or directory could not be read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The system's reason.
        #[source]
        source: io::Error,
    },
    /// A cgroup file did not hold what the kernel documents for it.
    #[error("{}: {problem}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was wrong with it, quoting the offending text.
        problem: String,
    },
    /// Writing a report or samples failed (a full disk, a closed pipe).
    #[error("cannot write the output")]
    Write(#[source] io::Error),
    /// The plotting library could not draw the chart.
    #[error("cannot draw the chart")]
    Plot(#[source] Box<dyn std::error::Error + Send + Sync>),
}
