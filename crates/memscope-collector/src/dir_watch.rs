//! Whether the session directory may have changed since it was last listed. Listing it
//! (open, read, close) on every step of the collector was half of the collector's work
//! in a quiet recording. A recorder takes an area by renaming a spare, which sets the
//! directory's modification time, so one `fstat` of the open directory answers instead.
//!
//! The time has the kernel's coarse clock's resolution: a name may arrive within the
//! same tick as a listing, after it, and leave the time as the listing saw it. So the
//! directory is listed again until a listing started on a later tick than the time it
//! found. (An inotify watch answered as cheaply, but closing it waits for the kernel's
//! fsnotify grace period, which under load held `memscope run` at its end for over
//! 30 s.)
//!
//! Whatever the time says, the directory is listed at least every [`FALLBACK`].

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

/// A listing at least this often, whatever the time says.
const FALLBACK: Duration = Duration::from_millis(200);

/// A file time, as (seconds, nanoseconds).
type Stamp = (i64, i64);

/// The session directory, open, and what its last listing knew.
pub(crate) struct DirWatch {
    dir: Option<File>,
    /// The directory's time that the last listing found.
    seen: Option<Stamp>,
    /// When the last listing started, by the clock the kernel stamps files with.
    listed_at: Stamp,
    listed: Option<Instant>,
}

impl DirWatch {
    /// Watches `dir`.
    pub(crate) fn new(dir: &Path) -> DirWatch {
        DirWatch { dir: File::open(dir).ok(), seen: None, listed_at: (0, 0), listed: None }
    }

    /// Whether the directory must be listed now; a listing then follows at once.
    pub(crate) fn should_list(&mut self) -> bool {
        let stamp = self.dir.as_ref().and_then(modified);
        let changed = stamp.is_none() || stamp != self.seen || stamp >= Some(self.listed_at);
        let due = self.listed.is_none_or(|listed| listed.elapsed() >= FALLBACK);
        if changed || due {
            self.seen = stamp;
            self.listed_at = coarse_now();
            self.listed = Some(Instant::now());
        }
        changed || due
    }
}

/// The directory's modification time.
fn modified(dir: &File) -> Option<Stamp> {
    // SAFETY: an all-zero stat is valid, and fstat writes at most one.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a descriptor we own and a stat to fill.
    let done = unsafe { libc::fstat(dir.as_raw_fd(), &mut stat) } == 0;
    done.then_some((stat.st_mtime, stat.st_mtime_nsec))
}

/// The coarse real-time clock, which file times are taken from.
fn coarse_now() -> Stamp {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) };
    (ts.tv_sec, ts.tv_nsec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_arriving_after_a_listing_is_listed_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut watch = DirWatch::new(dir.path());
        assert!(watch.should_list(), "the first step lists");
        // Whether the directory's making fell in the tick of that listing decides the
        // next answer; a listing on a later tick settles it.
        std::thread::sleep(Duration::from_millis(30));
        watch.should_list();
        std::thread::sleep(Duration::from_millis(30));
        assert!(!watch.should_list(), "nothing changed since a listing on a later tick");
        std::fs::write(dir.path().join("spare.0"), b"").unwrap();
        std::fs::rename(dir.path().join("spare.0"), dir.path().join("1.0")).unwrap();
        assert!(watch.should_list(), "a name arrived");
        std::thread::sleep(Duration::from_millis(30));
        watch.should_list();
        std::thread::sleep(Duration::from_millis(30));
        assert!(!watch.should_list(), "quiet again");
    }
}
