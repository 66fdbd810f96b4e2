//! A test process that holds a known amount of touched memory, compiled from C at
//! test time so that its footprint is exactly the block it allocates plus a small
//! C runtime.
//!
//! Shared with the CLI's tests through `#[path]`.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

pub const MIB: u64 = 1 << 20;

/// `memhog MIB [SECONDS]`: fills MIB mebibytes with a non-zero byte (so every page
/// is really resident), prints "ready", sleeps SECONDS, and exits.
const SOURCE: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    size_t bytes = strtoul(argv[1], NULL, 10) << 20;
    unsigned seconds = argc > 2 ? strtoul(argv[2], NULL, 10) : 600;
    char *block = malloc(bytes + 1);
    if (block == NULL) return 1;
    memset(block, 0x5a, bytes + 1);
    printf("ready\n");
    fflush(stdout);
    sleep(seconds);
    return block[bytes] != 0x5a;
}
"#;

/// A running memhog, killed and reaped when dropped.
pub struct Hog {
    child: Child,
}

impl Hog {
    /// Starts a hog holding `mib` MiB for ten minutes (the test kills it sooner).
    pub fn start(mib: u64) -> Hog {
        Hog::start_for(mib, 600)
    }

    /// Starts a hog holding `mib` MiB that exits by itself after `seconds`, and
    /// returns once its memory is touched.
    pub fn start_for(mib: u64, seconds: u64) -> Hog {
        let mut child = Command::new(binary())
            .args([mib.to_string(), seconds.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start memhog");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("memhog stdout");
        BufReader::new(stdout).read_line(&mut line).expect("read memhog");
        assert_eq!(line, "ready\n", "memhog did not start");
        Hog { child }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Waits for a hog started with [`Hog::start_for`] to exit.
    pub fn wait(&mut self) {
        self.child.wait().expect("wait for memhog");
    }
}

impl Drop for Hog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Compiles memhog once per test binary into cargo's scratch directory for tests.
/// The binary is built under a unique name and renamed into place, so that test
/// binaries running at the same time never see a half-written file.
fn binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let unique = dir.join(format!("memhog.{}", std::process::id()));
        let source = unique.with_extension("c");
        fs::write(&source, SOURCE).expect("write memhog.c");
        let status = Command::new("cc")
            .args(["-O1", "-o"])
            .arg(&unique)
            .arg(&source)
            .status()
            .expect("run cc (gcc must be installed)");
        assert!(status.success(), "cc failed to build memhog");
        fs::remove_file(&source).expect("remove memhog.c");
        let binary = dir.join("memhog");
        fs::rename(&unique, &binary).expect("move memhog into place");
        binary
    })
}

/// VmRSS from /proc/PID/status, in bytes: the kernel's own counter, read
/// independently of smaps_rollup.
pub fn status_rss(pid: i32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    let line = status.lines().find(|line| line.starts_with("VmRSS:")).expect("VmRSS line");
    let kib: u64 =
        line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("VmRSS value");
    kib * 1024
}

/// RSS as procps `ps -o rss=` reports it, in bytes.
pub fn ps_rss(pid: i32) -> u64 {
    let output =
        Command::new("ps").args(["-o", "rss=", "-p", &pid.to_string()]).output().expect("run ps");
    let kib: u64 =
        String::from_utf8_lossy(&output.stdout).trim().parse().expect("ps printed a number");
    kib * 1024
}

/// The memory cgroup of a process as /proc/PID/cgroup lists it: the v1 line
/// naming the memory controller, else the v2 line.
pub fn proc_memory_cgroup(pid: i32) -> String {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("read cgroup");
    let field = |line: &str| line.splitn(3, ':').nth(2).map(str::to_string);
    let v1 = text.lines().find(|line| {
        line.split(':')
            .nth(1)
            .is_some_and(|controllers| controllers.split(',').any(|c| c == "memory"))
    });
    v1.or_else(|| text.lines().find(|line| line.starts_with("0::")))
        .and_then(field)
        .expect("a memory cgroup line")
}

/// Asserts that `actual` is within 5% of `expected`.
pub fn assert_near(what: &str, actual: u64, expected: u64) {
    let tolerance = expected as f64 * 0.05;
    assert!(
        (actual as f64 - expected as f64).abs() <= tolerance,
        "{what}: {actual} bytes is not within 5% of {expected}"
    );
}

/// A pid no process can have: above the kernel's pid_max.
pub fn unused_pid() -> i32 {
    let max = fs::read_to_string("/proc/sys/kernel/pid_max").expect("read pid_max");
    max.trim().parse::<i32>().expect("pid_max is a number")
}
