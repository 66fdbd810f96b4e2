//! The few system calls the recorder makes, without the standard library: it runs in
//! the host's process, possibly before libc has finished starting, and must not use
//! thread-locals (each would grow every thread's TLS block) or libc's buffered I/O.

use alloc::vec::Vec;
use core::ffi::CStr;

/// `CLOCK_MONOTONIC` in nanoseconds.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Wall-clock milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: as above.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

/// The process id, asked of the kernel (a `vfork` child shares its parent's memory, so
/// a cached value would be the parent's).
pub fn getpid() -> u32 {
    // SAFETY: getpid has no preconditions.
    unsafe { libc::syscall(libc::SYS_getpid) as u32 }
}

/// The parent's process id.
pub fn getppid() -> u32 {
    // SAFETY: getppid has no preconditions.
    unsafe { libc::syscall(libc::SYS_getppid) as u32 }
}

/// The calling thread's kernel id.
pub fn gettid() -> u32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::syscall(libc::SYS_gettid) as u32 }
}

/// Whether thread `tid` of this process still exists.
pub fn thread_exists(pid: u32, tid: u32) -> bool {
    // SAFETY: signal 0 only checks that the thread exists.
    let result = unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, 0) };
    result == 0 || errno() != libc::ESRCH
}

/// The calling thread's `errno`.
pub fn errno() -> i32 {
    // SAFETY: __errno_location returns this thread's errno.
    unsafe { *libc::__errno_location() }
}

/// Sleeps for `us` microseconds.
pub fn sleep_us(us: u64) {
    let ts =
        libc::timespec { tv_sec: (us / 1_000_000) as i64, tv_nsec: (us % 1_000_000 * 1000) as i64 };
    // SAFETY: `ts` is a valid timespec; the remainder is not wanted.
    unsafe { libc::nanosleep(&ts, core::ptr::null_mut()) };
}

/// Writes one line to the program's standard error: only for a recorder that cannot
/// start, which the user must hear about.
pub fn complain(parts: &[&[u8]]) {
    for part in parts.iter().chain([&b"\n"[..]].iter()) {
        // SAFETY: writes bytes we own to fd 2; a failure is ignored (nowhere to report).
        unsafe { libc::write(2, part.as_ptr().cast(), part.len()) };
    }
}

/// A descriptor the recorder opened for reading, closed when dropped.
struct ReadFd(libc::c_int);

impl ReadFd {
    /// Opens `path` (NUL-terminated) read-only with `flags` added, close-on-exec.
    fn open(path: &CStr, flags: libc::c_int) -> Option<ReadFd> {
        // SAFETY: open on a NUL-terminated path.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC | flags) };
        (fd >= 0).then_some(ReadFd(fd))
    }

    /// Reads until `buf` is full or the file ends; how many bytes it read.
    fn fill(&self, buf: &mut [u8]) -> usize {
        let mut len = 0;
        while len < buf.len() {
            // SAFETY: reads into the unused rest of our own buffer.
            let n = unsafe { libc::read(self.0, buf[len..].as_mut_ptr().cast(), buf.len() - len) };
            if n <= 0 {
                break;
            }
            len += n as usize;
        }
        len
    }
}

impl Drop for ReadFd {
    fn drop(&mut self) {
        // SAFETY: the descriptor was opened by `ReadFd::open` and is closed once.
        unsafe { libc::close(self.0) };
    }
}

/// The whole contents of a file (a `/proc` file: its size is not known in advance).
pub fn read_file(path: &CStr) -> Option<Vec<u8>> {
    let fd = ReadFd::open(path, 0)?;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = fd.fill(&mut buf);
        out.extend_from_slice(&buf[..n]);
        if n < buf.len() {
            return Some(out);
        }
    }
}

/// Where a symbolic link points.
pub fn read_link(path: &CStr) -> Vec<u8> {
    let mut buf = [0u8; 4096];
    // SAFETY: readlink writes at most buf.len() bytes into our buffer.
    let n = unsafe { libc::readlink(path.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n <= 0 {
        return Vec::new();
    }
    buf[..n as usize].to_vec()
}

/// The process's peak resident set (VmHWM), in bytes; 0 if unknown.
pub fn peak_rss_bytes() -> u64 {
    // Read into the stack, not the heap: at exit a program's heap may hold millions of
    // freed chunks, and one request of a few KiB from glibc would first consolidate them
    // all (80 ms at the end of the map workload, more than the rest of a sampled run).
    let mut buf = [0u8; 8192];
    let status = read_prefix(c"/proc/self/status", &mut buf);
    status
        .split(|&b| b == b'\n')
        .find_map(|line| line.strip_prefix(b"VmHWM:"))
        .and_then(|rest| core::str::from_utf8(rest).ok())
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

/// The first `buf.len()` bytes of a file at most (empty if it cannot be read), read
/// without allocating.
fn read_prefix<'a>(path: &CStr, buf: &'a mut [u8]) -> &'a [u8] {
    let len = ReadFd::open(path, 0).map_or(0, |fd| fd.fill(buf));
    &buf[..len]
}

/// The names in directory `path` (a NUL-terminated path), without `.` and `..`.
pub fn list_dir(path: &CStr) -> Vec<Vec<u8>> {
    let Some(fd) = ReadFd::open(path, libc::O_DIRECTORY) else { return Vec::new() };
    let mut names = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: getdents64 fills our buffer with whole records.
        let n = unsafe { libc::syscall(libc::SYS_getdents64, fd.0, buf.as_mut_ptr(), buf.len()) };
        if n <= 0 {
            break;
        }
        let mut at = 0;
        while at + 19 <= n as usize {
            // struct linux_dirent64: ino u64, off i64, reclen u16, type u8, name[].
            let reclen = u16::from_ne_bytes([buf[at + 16], buf[at + 17]]) as usize;
            if reclen == 0 {
                break;
            }
            let name = &buf[at + 19..(at + reclen).min(n as usize)];
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            if name != b"." && name != b".." {
                names.push(name.to_vec());
            }
            at += reclen;
        }
    }
    names
}
