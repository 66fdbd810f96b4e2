//! What the collector learns about a recorded process from outside: whether it still
//! runs, and its resident memory. Reading `/proc` here costs the program nothing.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileExt;

/// A process the collector follows.
pub struct Process {
    /// A pidfd: readable once the process has exited (a child or not).
    pidfd: Option<OwnedFd>,
    statm: Option<File>,
    status: Option<File>,
    page_size: u64,
    exited: bool,
    /// The latest VmHWM read, bytes.
    pub peak_rss_bytes: u64,
}

impl Process {
    /// Starts following `pid`; a process already gone is [`Process::has_exited`] at once.
    pub fn follow(pid: u32) -> Process {
        // SAFETY: pidfd_open takes a pid and flags; a returned descriptor is ours.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        // SAFETY: fd is a fresh descriptor we own.
        let pidfd = (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) });
        let open = |name: &str| File::open(format!("/proc/{pid}/{name}")).ok();
        Process {
            exited: pidfd.is_none(),
            pidfd,
            statm: open("statm"),
            status: open("status"),
            // SAFETY: sysconf has no preconditions.
            page_size: unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64,
            peak_rss_bytes: 0,
        }
    }

    /// Whether the process has exited (it may not have been reaped yet).
    pub fn has_exited(&mut self) -> bool {
        if !self.exited {
            self.exited = self.pidfd.as_ref().is_none_or(|fd| readable(fd).unwrap_or(true));
        }
        self.exited
    }

    /// The resident set now, bytes; `None` once the process has exited (a zombie's
    /// `statm` reads all zeros, which is no sample of the program).
    pub fn rss_bytes(&self) -> Option<u64> {
        let text = read_small(self.statm.as_ref()?)?;
        let pages: u64 = text.split_whitespace().nth(1)?.parse().ok()?;
        (pages > 0).then_some(pages * self.page_size)
    }

    /// Rereads VmHWM, the peak resident set, while the process still has one.
    pub fn update_peak_rss(&mut self) {
        let hwm = self.status.as_ref().and_then(read_small).and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        });
        if let Some(kib) = hwm {
            self.peak_rss_bytes = self.peak_rss_bytes.max(kib * 1024);
        }
    }
}

fn read_small(file: &File) -> Option<String> {
    let mut buf = [0u8; 4096];
    let len = file.read_at(&mut buf, 0).ok()?;
    String::from_utf8(buf[..len].to_vec()).ok()
}

fn readable(fd: &OwnedFd) -> io::Result<bool> {
    let mut poll = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd, no waiting.
    let n = unsafe { libc::poll(&mut poll, 1, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n > 0)
}
