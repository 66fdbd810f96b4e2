//! Aligned text tables for `ps` and `cgroups`.

use std::io::{self, Write};

use crate::units::human_bytes;
use crate::{CgroupMemory, Error, ProcessMemory};

/// Numbers line up on the right, names on the left.
#[derive(Clone, Copy)]
enum Align {
    Left,
    Right,
}

const PROCESS_COLUMNS: [(&str, Align); 7] = [
    ("PID", Align::Right),
    ("RSS", Align::Right),
    ("PSS", Align::Right),
    ("USS", Align::Right),
    ("SWAP", Align::Right),
    ("CGROUP", Align::Left),
    ("COMMAND", Align::Left),
];

const CGROUP_COLUMNS: [(&str, Align); 9] = [
    ("USAGE", Align::Right),
    ("LIMIT", Align::Right),
    ("%LIMIT", Align::Right),
    ("PEAK", Align::Right),
    ("ANON", Align::Right),
    ("FILE", Align::Right),
    ("PROCS", Align::Right),
    ("CONTAINER", Align::Left),
    ("PATH", Align::Left),
];

/// Writes one line per process, under a header, sizes in binary units.
pub fn write_process_table(out: &mut dyn Write, processes: &[ProcessMemory]) -> Result<(), Error> {
    let rows: Vec<Vec<String>> = processes
        .iter()
        .map(|process| {
            let usage = &process.usage;
            vec![
                process.pid.to_string(),
                human_bytes(usage.rss_bytes),
                human_bytes(usage.pss_bytes),
                human_bytes(usage.uss_bytes),
                human_bytes(usage.swap_bytes),
                process.cgroup.clone().unwrap_or_else(|| "-".into()),
                process.command.clone(),
            ]
        })
        .collect();
    write_table(out, &PROCESS_COLUMNS, &rows).map_err(Error::Write)
}

/// Writes one line per cgroup, under a header; containers by their short id.
pub fn write_cgroup_table(out: &mut dyn Write, cgroups: &[CgroupMemory]) -> Result<(), Error> {
    let optional = |bytes: Option<u64>, absent: &str| bytes.map_or(absent.into(), human_bytes);
    let rows: Vec<Vec<String>> = cgroups
        .iter()
        .map(|cgroup| {
            vec![
                human_bytes(cgroup.memory_bytes),
                optional(cgroup.limit_bytes, "unlimited"),
                cgroup.percent_of_limit().map_or("-".into(), |percent| format!("{percent:.1}%")),
                optional(cgroup.peak_bytes, "-"),
                human_bytes(cgroup.anon_bytes),
                human_bytes(cgroup.file_bytes),
                cgroup.processes.to_string(),
                cgroup.container.as_ref().map_or("-".into(), |id| id.short().to_string()),
                cgroup.path.clone(),
            ]
        })
        .collect();
    write_table(out, &CGROUP_COLUMNS, &rows).map_err(Error::Write)
}

/// Pads every column to its widest cell, two spaces apart. The last column is not
/// padded, so long commands and paths neither wrap the table nor leave trailing
/// blanks.
fn write_table(
    out: &mut dyn Write,
    columns: &[(&str, Align)],
    rows: &[Vec<String>],
) -> io::Result<()> {
    let header: Vec<String> = columns.iter().map(|(title, _)| title.to_string()).collect();
    let mut widths: Vec<usize> = header.iter().map(String::len).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(rows) {
        let cells =
            row.iter().zip(columns).zip(&widths).map(|((cell, (_, align)), &width)| match align {
                Align::Left => format!("{cell:<width$}"),
                Align::Right => format!("{cell:>width$}"),
            });
        let line = cells.collect::<Vec<_>>().join("  ");
        writeln!(out, "{}", line.trim_end())?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemoryUsage, Pid};

    #[test]
    fn process_table_aligns_columns() {
        let processes = [
            ProcessMemory {
                pid: Pid(4242),
                command: "postgres -D /var/lib/postgresql".into(),
                usage: MemoryUsage {
                    rss_bytes: 64 << 20,
                    pss_bytes: 48 << 20,
                    uss_bytes: 40 << 20,
                    swap_bytes: 0,
                },
                cgroup: Some("/system.slice/postgresql.service".into()),
            },
            ProcessMemory {
                pid: Pid(7),
                command: "sh".into(),
                usage: MemoryUsage { rss_bytes: 1536, ..MemoryUsage::default() },
                cgroup: None,
            },
        ];
        let mut out = Vec::new();
        write_process_table(&mut out, &processes).unwrap();
        let expected = [
            " PID       RSS       PSS       USS  SWAP  CGROUP                            COMMAND",
            "4242  64.0 MiB  48.0 MiB  40.0 MiB   0 B  /system.slice/postgresql.service  postgres -D /var/lib/postgresql",
            "   7   1.5 KiB       0 B       0 B   0 B  -                                 sh",
        ];
        assert_eq!(String::from_utf8(out).unwrap().lines().collect::<Vec<_>>(), expected);
    }
}
