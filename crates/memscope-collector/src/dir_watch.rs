//! Whether the session directory may have changed since it was last listed. Listing it
//! (open, read, close) on every step of the collector was half of the collector's work
//! in a quiet recording. An inotify watch answers instead: a recorder takes an area by
//! renaming a spare, which the watch reports, and reading an empty watch is one system
//! call with no path to look up.
//!
//! Without inotify (no watches left), the directory is listed on every step, as before.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// A listing at least this often, whatever the watch says.
const FALLBACK: Duration = Duration::from_millis(200);

/// What changes in the directory mean a listing: names arriving by rename or creation.
const EVENTS: u32 = libc::IN_MOVED_TO | libc::IN_CREATE | libc::IN_Q_OVERFLOW;

/// The watch on the session directory, and when it was last listed.
pub(crate) struct DirWatch {
    watch: Option<OwnedFd>,
    listed: Option<Instant>,
}

impl DirWatch {
    /// Watches `dir`.
    pub(crate) fn new(dir: &Path) -> DirWatch {
        DirWatch { watch: watch(dir), listed: None }
    }

    /// Whether the directory must be listed now; a listing then follows at once.
    pub(crate) fn should_list(&mut self) -> bool {
        let changed = match &self.watch {
            Some(watch) => drain(watch),
            None => true,
        };
        let due = self.listed.is_none_or(|listed| listed.elapsed() >= FALLBACK);
        if changed || due {
            self.listed = Some(Instant::now());
        }
        changed || due
    }
}

/// A non-blocking inotify descriptor watching `dir` for new names.
fn watch(dir: &Path) -> Option<OwnedFd> {
    let path = CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: inotify_init1 returns a new descriptor or -1.
    let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    // SAFETY: a descriptor just returned to us, owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: a valid descriptor and a NUL-terminated path.
    let added = unsafe { libc::inotify_add_watch(fd.as_raw_fd(), path.as_ptr(), EVENTS) };
    (added >= 0).then_some(fd)
}

/// Reads every pending event; whether there was any.
fn drain(watch: &OwnedFd) -> bool {
    let mut buffer = [0u8; 4096];
    let mut any = false;
    loop {
        // SAFETY: reads into a buffer we own, at most its length.
        let read =
            unsafe { libc::read(watch.as_raw_fd(), buffer.as_mut_ptr().cast(), buffer.len()) };
        if read <= 0 {
            return any;
        }
        any = true;
    }
}
