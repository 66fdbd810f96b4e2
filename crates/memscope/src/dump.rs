//! The JSON dump: live memory per tag and per site, rewritten every few seconds, so a
//! file like a scanner's `cache.json` shows each owner's growth without an endpoint.
//! Each dump is written to a temporary file beside it and renamed over it: a reader
//! never sees half a file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use memscope_collector::create_private;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::snapshot::{snapshot, Site};
use crate::stats::stats;
use crate::tags::{stats_by_tag, TagStats};

/// Sites a dump lists at most (the rest are counted in `more_sites`).
const SITES: usize = 100;

/// One dump, as written.
#[derive(Serialize, Deserialize)]
struct Dump {
    /// Marks the file as memscope's, so a later start may replace it.
    memscope_dump: u32,
    time_unix_ms: u64,
    pid: u32,
    live_bytes: u64,
    live_blocks: u64,
    peak_bytes: u64,
    rss_bytes: u64,
    tags: Vec<TagStats>,
    sites: Vec<Site>,
    more_sites: usize,
}

/// Starts the dumping thread (see [`check_replaceable`] first).
pub(crate) fn start(path: &Path, interval: Duration) -> Result<(), Error> {
    let path = path.to_owned();
    let dump = move || {
        memscope_agent::ignore_current_thread();
        loop {
            std::thread::sleep(interval);
            if let Err(error) = crate::inside_memscope(|| write(&path)) {
                eprintln!("memscope: cannot write the dump {}: {error}", path.display());
            }
        }
    };
    std::thread::Builder::new()
        .name("memscope-dump".into())
        .spawn(dump)
        .map(drop)
        .map_err(|e| Error::CannotRecord(format!("cannot start the dump thread: {e}")))
}

/// An existing `path` is replaced only if it is an earlier memscope dump.
pub(crate) fn check_replaceable(path: &Path) -> Result<(), Error> {
    let refuse = |why: &str| Error::Config(format!("dump_path {}: {why}", path.display()));
    match std::fs::symlink_metadata(path) {
        Err(_) => Ok(()),
        Ok(meta) if !meta.is_file() => Err(refuse("exists and is not a regular file")),
        Ok(_) => {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(value) if value.get("memscope_dump").is_some() => Ok(()),
                _ => Err(refuse("exists and is not a memscope dump; not replacing it")),
            }
        }
    }
}

/// Writes one dump of the state now.
pub(crate) fn write(path: &Path) -> std::io::Result<()> {
    let now = stats();
    let mut sites: Vec<Site> = snapshot().sites().into_iter().filter(|s| s.bytes != 0).collect();
    let more_sites = sites.len().saturating_sub(SITES);
    sites.truncate(SITES);
    let dump = Dump {
        memscope_dump: 1,
        time_unix_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        pid: std::process::id(),
        live_bytes: now.live_bytes,
        live_blocks: now.live_blocks,
        peak_bytes: now.peak_bytes,
        rss_bytes: now.rss_bytes,
        tags: stats_by_tag(),
        sites,
        more_sites,
    };
    let (mut file, temporary) = create_private(&temporary_beside(path))?;
    let written = serde_json::to_writer_pretty(&mut file, &dump)
        .map_err(std::io::Error::from)
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| std::fs::rename(&temporary, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

fn temporary_beside(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".memscope-tmp");
    path.with_file_name(name)
}
