//! The system view of memscope: how much memory each process and each cgroup holds
//! right now, and how one process's memory moves over time.
//!
//! Everything is read from the kernel's own accounting, without attaching to any
//! process:
//!
//! - [`scan_processes`] reads `/proc/PID/smaps_rollup` of every process into a
//!   [`ProcessScan`] of [`ProcessMemory`] rows (RSS, PSS, USS, swap and the memory
//!   cgroup), which [`ProcessScan::sort`] ranks by a [`SortKey`].
//! - [`CgroupHierarchy::detect`] finds the memory cgroup tree (v1 or v2) in
//!   `/proc/self/mountinfo`; [`CgroupMemory::read_all`] reads usage, limit, peak,
//!   the anon/file split and the process count of each cgroup, and names the
//!   [`ContainerId`] of cgroups that container runtimes made.
//! - [`watch`] samples one process at an interval into a [`SampleSink`]: a
//!   `Vec<Sample>`, or a [`SampleWriter`] that prints a table or CSV as it goes.
//!   [`render_svg`] draws collected samples as a chart.
//!
//! Data and output are kept apart: [`write_process_table`] and
//! [`write_cgroup_table`] print the text reports, and every data type is
//! `serde::Serialize` for JSON.
//!
//! # Example
//!
//! ```
//! use memscope_system::{scan_processes, CgroupHierarchy, SortKey};
//!
//! let hierarchy = CgroupHierarchy::detect().ok();
//! let mut scan = scan_processes(hierarchy.as_ref())?;
//! scan.sort(SortKey::Pss);
//! for process in scan.processes.iter().take(3) {
//!     println!("{:>8} {:>12} {}", process.pid, process.usage.pss_bytes, process.command);
//! }
//! # Ok::<(), memscope_system::Error>(())
//! ```
//!
//! # Cargo features
//!
//! This crate has none. Charts use the `plotters` SVG backend only, so no system
//! font library is needed.

#![deny(missing_docs)]

mod cgroup;
mod container;
mod error;
mod hierarchy;
mod plot;
mod process;
mod sample_writer;
mod table;
mod units;
mod watch;

pub use crate::cgroup::CgroupMemory;
pub use crate::container::ContainerId;
pub use crate::error::Error;
pub use crate::hierarchy::{CgroupHierarchy, CgroupVersion};
pub use crate::plot::render_svg;
pub use crate::process::{scan_processes, MemoryUsage, Pid, ProcessMemory, ProcessScan, SortKey};
pub use crate::sample_writer::{SampleFormat, SampleWriter};
pub use crate::table::{write_cgroup_table, write_process_table};
pub use crate::units::human_bytes;
pub use crate::watch::{watch, Sample, SampleSink, WatchEnd, WatchOptions};
