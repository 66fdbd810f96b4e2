//! The memory accounting of cgroups: usage, limit, peak, and what the memory is.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use serde::Serialize;

use crate::{CgroupHierarchy, CgroupVersion, ContainerId, Error};

/// The smallest limit that means "no limit" in cgroup v1. The kernel keeps limits in
/// pages and shows "unlimited" as the largest page count times the page size, which
/// is `i64::MAX` rounded down to a page: 9223372036854771712 with 4 KiB pages. Any
/// page size up to 64 KiB lands at or above this value.
const UNLIMITED_V1: u64 = i64::MAX as u64 & !0xffff;

/// One memory cgroup's accounting, in bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CgroupMemory {
    /// The cgroup, as `/proc/PID/cgroup` names it (`/` for the root).
    pub path: String,
    /// Memory charged to the cgroup and its descendants now.
    pub memory_bytes: u64,
    /// Its limit; `None` when unlimited.
    pub limit_bytes: Option<u64>,
    /// The highest usage the kernel recorded, where it keeps one.
    pub peak_bytes: Option<u64>,
    /// Anonymous memory (heaps, stacks) from `memory.stat`.
    pub anon_bytes: u64,
    /// Page cache (file contents, shared memory) from `memory.stat`.
    pub file_bytes: u64,
    /// Processes in this cgroup itself, not counting its descendants.
    pub processes: usize,
    /// The container whose cgroup this is, when a runtime created it.
    pub container: Option<ContainerId>,
}

/// Where one cgroup version keeps each figure.
struct Layout {
    usage: &'static str,
    limit: &'static str,
    peak: &'static str,
    /// `memory.stat` keys for anonymous memory, the preferred one first.
    anon: &'static [&'static str],
    /// `memory.stat` keys for page cache, the preferred one first.
    file: &'static [&'static str],
}

impl Layout {
    fn of(version: CgroupVersion) -> &'static Layout {
        match version {
            // The `total_` keys include descendants, as the usage file does.
            CgroupVersion::V1 => &Layout {
                usage: "memory.usage_in_bytes",
                limit: "memory.limit_in_bytes",
                peak: "memory.max_usage_in_bytes",
                anon: &["total_rss", "rss"],
                file: &["total_cache", "cache"],
            },
            CgroupVersion::V2 => &Layout {
                usage: "memory.current",
                limit: "memory.max",
                peak: "memory.peak",
                anon: &["anon"],
                file: &["file"],
            },
        }
    }
}

impl CgroupMemory {
    /// Reads every cgroup of the tree that accounts memory, parents before children
    /// and siblings by name. Cgroups that vanish during the walk are left out.
    ///
    /// On cgroup v2 the root cgroup has no `memory.current` and so is not listed.
    pub fn read_all(hierarchy: &CgroupHierarchy) -> Result<Vec<CgroupMemory>, Error> {
        let mut cgroups = Vec::new();
        collect(hierarchy, hierarchy.root_path().to_string(), &mut cgroups)?;
        Ok(cgroups)
    }

    /// Reads one cgroup; `None` when it does not account memory (v2 without the
    /// memory controller enabled for it) or does not exist.
    pub fn read(hierarchy: &CgroupHierarchy, path: &str) -> Result<Option<CgroupMemory>, Error> {
        let Some(dir) = hierarchy.dir(path) else {
            return Ok(None);
        };
        let layout = Layout::of(hierarchy.version());
        let stat_path = dir.join("memory.stat");
        let (Some(memory_bytes), Some(stat), Some(procs)) = (
            read_number(&dir.join(layout.usage))?,
            read_file(&stat_path)?,
            read_file(&dir.join("cgroup.procs"))?,
        ) else {
            return Ok(None);
        };
        Ok(Some(CgroupMemory {
            path: path.to_string(),
            memory_bytes,
            limit_bytes: read_limit(&dir.join(layout.limit))?,
            peak_bytes: read_number(&dir.join(layout.peak))?,
            anon_bytes: stat_value(&stat_path, &stat, layout.anon)?,
            file_bytes: stat_value(&stat_path, &stat, layout.file)?,
            processes: procs.lines().filter(|line| !line.trim().is_empty()).count(),
            container: ContainerId::from_cgroup_path(path),
        }))
    }

    /// Usage as a share of the limit, in percent; `None` when unlimited.
    pub fn percent_of_limit(&self) -> Option<f64> {
        self.limit_bytes.map(|limit| self.memory_bytes as f64 * 100.0 / limit.max(1) as f64)
    }
}

/// The current usage of one cgroup; `None` when it cannot be read.
pub(crate) fn usage_bytes(hierarchy: &CgroupHierarchy, path: &str) -> Option<u64> {
    let dir = hierarchy.dir(path)?;
    read_number(&dir.join(Layout::of(hierarchy.version()).usage)).ok().flatten()
}

fn collect(
    hierarchy: &CgroupHierarchy,
    path: String,
    cgroups: &mut Vec<CgroupMemory>,
) -> Result<(), Error> {
    let Some(dir) = hierarchy.dir(&path) else {
        return Ok(());
    };
    if let Some(cgroup) = CgroupMemory::read(hierarchy, &path)? {
        cgroups.push(cgroup);
    }
    for name in child_names(&dir)? {
        collect(hierarchy, child_path(&path, &name), cgroups)?;
    }
    Ok(())
}

/// The path of the cgroup `name` inside the cgroup at `parent`.
fn child_path(parent: &str, name: &str) -> String {
    format!("{}/{name}", parent.trim_end_matches('/'))
}

/// The names of the subdirectories of `dir`, sorted; none when it has vanished.
fn child_names(dir: &Path) -> Result<Vec<String>, Error> {
    let io_error = |source| Error::Io { path: dir.to_path_buf(), source };
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(io_error(err)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_error)?;
        if entry.file_type().map_err(io_error)?.is_dir() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// A cgroup file's text; `None` when the file does not exist.
fn read_file(path: &Path) -> Result<Option<String>, Error> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Io { path: path.to_path_buf(), source }),
    }
}

fn read_number(path: &Path) -> Result<Option<u64>, Error> {
    read_file(path)?.map(|text| parse_number(path, text.trim())).transpose()
}

/// Reads a limit file; `None` when unlimited or absent (the v2 root).
fn read_limit(path: &Path) -> Result<Option<u64>, Error> {
    read_file(path)?.map_or(Ok(None), |text| parse_limit(path, text.trim()))
}

/// v2 writes `max` for no limit, v1 a number near `i64::MAX`.
fn parse_limit(path: &Path, text: &str) -> Result<Option<u64>, Error> {
    if text == "max" {
        return Ok(None);
    }
    Ok(Some(parse_number(path, text)?).filter(|&limit| limit < UNLIMITED_V1))
}

fn parse_number(path: &Path, text: &str) -> Result<u64, Error> {
    text.parse().map_err(|_| Error::Parse {
        path: path.to_path_buf(),
        problem: format!("expected a number of bytes, found {text:?}"),
    })
}

/// The value of the first of `keys` that `memory.stat` has.
fn stat_value(path: &Path, stat: &str, keys: &[&str]) -> Result<u64, Error> {
    let value = |key: &str| {
        stat.lines()
            .filter_map(|line| line.split_once(' '))
            .find(|(name, _)| *name == key)
            .map(|(_, value)| value.trim())
    };
    let Some(text) = keys.iter().find_map(|key| value(key)) else {
        return Err(Error::Parse {
            path: path.to_path_buf(),
            problem: format!("no {} line", keys.join(" or ")),
        });
    };
    parse_number(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_without_a_bound_are_none() {
        let path = Path::new("memory.max");
        let limit = |text| parse_limit(path, text).unwrap();
        assert_eq!(limit("max"), None);
        // v1 "unlimited" with 4 KiB and with 64 KiB pages.
        assert_eq!(limit("9223372036854771712"), None);
        assert_eq!(limit("9223372036854710272"), None);
        assert_eq!(limit("4611686018427387904"), Some(1 << 62));
        assert_eq!(limit("536870912"), Some(512 << 20));
    }

    #[test]
    fn a_limit_that_is_not_a_number_is_quoted() {
        let err = parse_limit(Path::new("memory.max"), "lots").unwrap_err();
        assert_eq!(err.to_string(), "memory.max: expected a number of bytes, found \"lots\"");
    }

    #[test]
    fn stat_prefers_the_first_key() {
        let stat = "cache 4096\nrss 8192\ntotal_cache 12288\ntotal_rss 16384\n";
        let path = Path::new("memory.stat");
        assert_eq!(stat_value(path, stat, &["total_rss", "rss"]).unwrap(), 16384);
        assert_eq!(stat_value(path, "rss 8192\n", &["total_rss", "rss"]).unwrap(), 8192);
    }

    #[test]
    fn stat_without_the_key_names_it() {
        let err = stat_value(Path::new("memory.stat"), "file 1\n", &["anon"]).unwrap_err();
        assert_eq!(err.to_string(), "memory.stat: no anon line");
    }

    #[test]
    fn percent_of_limit() {
        let cgroup = CgroupMemory {
            path: "/a".into(),
            memory_bytes: 256,
            limit_bytes: Some(1024),
            peak_bytes: None,
            anon_bytes: 0,
            file_bytes: 0,
            processes: 0,
            container: None,
        };
        assert_eq!(cgroup.percent_of_limit(), Some(25.0));
    }

    #[test]
    fn child_paths_join_with_one_slash() {
        assert_eq!(child_path("/", "docker"), "/docker");
        assert_eq!(child_path("/docker", "abc"), "/docker/abc");
    }
}
