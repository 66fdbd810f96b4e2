//! Whether the session directory may have changed since it was last listed. Listing it
//! (open, read, close) on every step of the collector was half of the collector's work
//! in a quiet recording; a `stat` of the directory answers most steps.
//!
//! A directory's change time comes from the kernel's coarse clock, and two changes
//! within one of its ticks leave the same time. So a time equal to the one seen at the
//! last listing proves nothing if that listing came within a tick of it: the directory
//! is then listed again, until a listing comes well after the latest change.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

/// More than the coarse clock's tick (4 ms at 250 Hz), with room for the fine clock's
/// lead over it.
const TICK: Duration = Duration::from_millis(20);
/// A listing at least this often, whatever the directory says.
const FALLBACK: Duration = Duration::from_millis(200);

/// What the last listing saw.
struct Listing {
    /// The directory's change time just before it was read.
    changed: SystemTime,
    /// When it was read.
    wall: SystemTime,
    instant: Instant,
}

/// When the directory was last listed.
#[derive(Default)]
pub(crate) struct DirWatch {
    last: Option<Listing>,
}

impl DirWatch {
    /// Whether `dir` must be listed now, before which [`DirWatch::listing`] is called.
    pub(crate) fn should_list(&self, dir: &Path) -> bool {
        let Some(last) = &self.last else { return true };
        if last.instant.elapsed() >= FALLBACK || last.wall < last.changed + TICK {
            return true;
        }
        changed(dir) != Some(last.changed)
    }

    /// Notes that `dir` is about to be read.
    pub(crate) fn listing(&mut self, dir: &Path) {
        self.last = changed(dir).map(|changed| Listing {
            changed,
            wall: SystemTime::now(),
            instant: Instant::now(),
        });
    }
}

fn changed(dir: &Path) -> Option<SystemTime> {
    std::fs::metadata(dir).and_then(|meta| meta.modified()).ok()
}
