//! A capture area mapped into the collector: the file a recorder created in the
//! session directory, or memory the Rust library shares with its in-process collector.

use std::fs::OpenOptions;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::ptr::NonNull;

use memscope_agent::area::{Area, AREA_BYTES};

/// An area mapped for as long as this value lives (or, for the memory a recorder in
/// this very process writes into, for the rest of the process).
pub struct Mapping {
    area: Area,
    /// Unmapped on drop: false for memory the process's own recorder may still write.
    owned: bool,
}

// SAFETY: the mapping is plain shared memory, made only of atomics (see `Area`).
unsafe impl Send for Mapping {}

impl Mapping {
    /// Maps the area file at `path` (never through a symbolic link). `Ok(None)` while
    /// the recorder has not given it its size yet.
    pub fn open(path: &Path) -> io::Result<Option<Mapping>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)?;
        if file.metadata()?.len() != AREA_BYTES as u64 {
            return Ok(None);
        }
        // SAFETY: maps the whole file shared; the file stays valid while mapped.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                AREA_BYTES,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: AREA_BYTES of page-aligned shared memory, zero where the recorder
        // has not written yet (a fresh file), mapped until `drop`.
        Ok(Some(Mapping { area: unsafe { Area::from_raw(base.cast()) }, owned: true }))
    }

    /// Zeroed anonymous memory for an area that the Rust library's recorder and
    /// collector share within one process. It is never unmapped: the recorder may write
    /// into it until the process is gone.
    pub fn anonymous() -> io::Result<Mapping> {
        let base = anonymous_memory(AREA_BYTES)?;
        // SAFETY: as in `open`.
        Ok(Mapping { area: unsafe { Area::from_raw(base.as_ptr()) }, owned: false })
    }

    /// The area.
    pub fn area(&self) -> &Area {
        &self.area
    }
}

/// `bytes` of zeroed, page-aligned private memory, at an address of the kernel's
/// choice; the caller unmaps it (or never does).
pub(crate) fn anonymous_memory(bytes: usize) -> io::Result<NonNull<u8>> {
    // SAFETY: a fresh private anonymous mapping; nothing else refers to it.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    NonNull::new(base.cast::<u8>()).ok_or_else(io::Error::last_os_error)
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if self.owned {
            // SAFETY: mapped in `open` with this size, not used after.
            unsafe { libc::munmap(self.area.base().cast(), AREA_BYTES) };
        }
    }
}
