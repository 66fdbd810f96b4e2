//! `memscope ps`, `cgroups` and `watch` run as a user runs them, against a C
//! program holding 64 MiB of touched memory, with the figures checked against
//! procps `ps` and `/proc/PID/status`; and issue 17's rules for `watch -o`: samples
//! go to a new owner-only file and never through a symlink, even one planted while the
//! watch starts; a chart replaces a regular file in one rename, never writing through a
//! symlink.

#[path = "../../memscope-system/tests/support/hog.rs"]
mod hog;

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use hog::{assert_near, proc_memory_cgroup, ps_rss, status_rss, unused_pid, Hog, MIB};
use serde_json::Value;

const HELD: u64 = 64 * MIB;

fn memscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_memscope")).args(args).output().expect("run memscope")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 stdout")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("UTF-8 stderr")
}

/// Runs memscope, requires success, and parses its JSON output.
fn memscope_json(args: &[&str]) -> Value {
    let output = memscope(args);
    assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    serde_json::from_slice(&output.stdout).expect("stdout is JSON")
}

/// Requires a failure reported as exactly one line starting with "memscope:".
fn assert_one_line_error(output: &Output, message: &str) {
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = stderr(output);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("memscope: "), "{stderr}");
    assert!(stderr.contains(message), "{stderr}");
}

fn field(value: &Value, name: &str) -> u64 {
    value[name].as_u64().unwrap_or_else(|| panic!("{name} in {value}"))
}

fn entry_with<'a>(array: &'a Value, key: &str, wanted: &Value) -> &'a Value {
    array
        .as_array()
        .expect("a JSON array")
        .iter()
        .find(|entry| &entry[key] == wanted)
        .unwrap_or_else(|| panic!("no entry with {key} = {wanted}"))
}

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> =
        value.as_object().expect("a JSON object").keys().map(String::as_str).collect();
    keys.sort();
    keys
}

#[test]
fn ps_json_ranks_a_process_holding_64_mib() {
    let baseline = Hog::start(0);
    let hog = Hog::start(64);
    let processes = memscope_json(&["ps", "--json"]);
    let base = entry_with(&processes, "pid", &baseline.pid().into());
    let held = entry_with(&processes, "pid", &hog.pid().into());

    assert_eq!(
        keys(held),
        ["cgroup", "command", "pid", "pss_bytes", "rss_bytes", "swap_bytes", "uss_bytes"]
    );
    assert_near("RSS", field(held, "rss_bytes"), field(base, "rss_bytes") + HELD);
    assert_near("USS", field(held, "uss_bytes"), field(base, "uss_bytes") + HELD);
    assert_near("ps rss", ps_rss(hog.pid()), field(held, "rss_bytes"));
    assert_near("VmRSS", status_rss(hog.pid()), field(held, "rss_bytes"));
    assert_eq!(held["cgroup"], proc_memory_cgroup(hog.pid()).as_str());
    let rss: Vec<u64> =
        processes.as_array().unwrap().iter().map(|p| field(p, "rss_bytes")).collect();
    assert!(rss.windows(2).all(|pair| pair[0] >= pair[1]), "not sorted by RSS");
}

#[test]
fn ps_sorts_by_the_chosen_key_and_keeps_n() {
    let processes = memscope_json(&["ps", "--sort", "uss", "-n", "3", "--json"]);
    let uss: Vec<u64> =
        processes.as_array().unwrap().iter().map(|p| field(p, "uss_bytes")).collect();
    assert_eq!(uss.len(), 3);
    assert!(uss.windows(2).all(|pair| pair[0] >= pair[1]), "{uss:?}");

    let table = memscope(&["ps", "-n", "2"]);
    assert!(table.status.success());
    let text = stdout(&table);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0]
        .split_whitespace()
        .eq(["PID", "RSS", "PSS", "USS", "SWAP", "CGROUP", "COMMAND"]));
}

#[test]
fn cgroups_lists_the_cgroup_holding_the_process() {
    let hog = Hog::start(64);
    let path = proc_memory_cgroup(hog.pid());
    let cgroups = memscope_json(&["cgroups", "--json"]);
    let cgroup = entry_with(&cgroups, "path", &path.as_str().into());

    assert_eq!(
        keys(cgroup),
        [
            "anon_bytes",
            "container",
            "file_bytes",
            "limit_bytes",
            "memory_bytes",
            "path",
            "peak_bytes",
            "processes"
        ]
    );
    assert!(field(cgroup, "memory_bytes") >= HELD, "{cgroup}");
    assert!(field(cgroup, "anon_bytes") >= HELD, "{cgroup}");
    assert!(field(cgroup, "processes") >= 1, "{cgroup}");

    let table = memscope(&["cgroups"]);
    assert!(table.status.success());
    assert!(stdout(&table).lines().any(|line| line.ends_with(&format!("  {path}"))));
}

#[test]
fn watch_json_samples_track_the_held_memory() {
    let baseline = Hog::start(0);
    let hog = Hog::start(64);
    let expected_rss = status_rss(baseline.pid()) + HELD;
    let pid = hog.pid().to_string();
    let samples =
        memscope_json(&["watch", &pid, "--interval", "50", "--duration", "0.3", "--json"]);
    let samples = samples.as_array().expect("an array of samples");

    assert_eq!(samples.len(), 7, "due at 0, 50, ..., 300 ms");
    assert_eq!(keys(&samples[0]), ["cgroup_bytes", "pss_bytes", "rss_bytes", "swap_bytes", "t_ms"]);
    for sample in samples {
        assert_near("sampled RSS", field(sample, "rss_bytes"), expected_rss);
        assert!(field(sample, "cgroup_bytes") >= HELD, "{sample}");
    }
}

#[test]
fn watch_text_prints_aligned_rows() {
    let hog = Hog::start(64);
    let pid = hog.pid().to_string();
    let output = memscope(&["watch", &pid, "--interval", "50", "--duration", "0.1"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines.iter().all(|line| line.len() == lines[0].len()), "{text}");
    assert!(lines[0].split_whitespace().eq([
        "T_MS",
        "RSS_MIB",
        "PSS_MIB",
        "SWAP_MIB",
        "CGROUP_MIB"
    ]));
    let rss_mib: f64 = lines[1].split_whitespace().nth(1).unwrap().parse().unwrap();
    assert_near("RSS column", (rss_mib * MIB as f64) as u64, status_rss(hog.pid()));
}

/// `memscope watch` of `hog` every 50 ms for `seconds`, in `format`, into `file`;
/// it must succeed.
fn watch_into(
    hog: &Hog,
    seconds: &str,
    format: &str,
    file: &std::path::Path,
) -> std::process::Output {
    let pid = hog.pid().to_string();
    let args = [
        "watch",
        &pid,
        "--interval",
        "50",
        "--duration",
        seconds,
        format,
        "-o",
        file.to_str().unwrap(),
    ];
    let output = memscope(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    output
}

#[test]
fn watch_csv_goes_to_a_private_file() {
    let hog = Hog::start(8);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("samples.csv");
    let output = watch_into(&hog, "0.2", "--csv", &file);
    assert!(output.stdout.is_empty());

    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let csv = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "t_ms,rss_bytes,pss_bytes,swap_bytes,cgroup_bytes");
    assert_eq!(lines.len(), 6, "{csv}");
    let rss: u64 = lines[1].split(',').nth(1).unwrap().parse().unwrap();
    assert_near("CSV RSS", rss, status_rss(hog.pid()));
}

#[test]
fn watch_plot_writes_an_svg_chart_with_the_four_series() {
    let hog = Hog::start(16);
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("chart.svg");
    watch_into(&hog, "0.3", "--plot", &chart);

    // Python's XML parser checks the file independently: well-formed, an <svg>
    // root, and one polyline of 7 points per series in the series' colour.
    let check = r##"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "{http://www.w3.org/2000/svg}svg", root.tag
lines = [e for e in root.iter("{http://www.w3.org/2000/svg}polyline")]
for colour in ("#D62728", "#1F77B4", "#9467BD", "#2CA02C"):
    points = max(len(e.get("points").split()) for e in lines if e.get("stroke") == colour)
    assert points == 7, (colour, points)
texts = " ".join(t.text.strip() for t in root.iter("{http://www.w3.org/2000/svg}text"))
for label in ("RSS", "PSS", "swap", "cgroup", "MiB", "time (s)"):
    assert label in texts, label
"##;
    let python =
        Command::new("python3").args(["-c", check]).arg(&chart).output().expect("run python3");
    assert!(python.status.success(), "{}", String::from_utf8_lossy(&python.stderr));
}

#[test]
fn plot_without_an_output_file_is_refused() {
    let hog = Hog::start(0);
    let output = memscope(&["watch", &hog.pid().to_string(), "--plot"]);
    assert_one_line_error(&output, "--plot needs -o FILE.svg");
}

#[test]
fn watching_a_missing_pid_fails_with_one_line() {
    let pid = unused_pid();
    let output = memscope(&["watch", &pid.to_string(), "--json"]);
    assert_one_line_error(&output, &format!("no process with pid {pid}"));
    assert!(output.stdout.is_empty());
}

#[test]
fn watching_another_users_process_is_denied_with_one_line() {
    // As root, drop to nobody first: root may read every process it has the
    // capabilities of (in a container pid 1 may hold more, and refuse root too).
    let binary = env!("CARGO_BIN_EXE_memscope");
    // SAFETY: geteuid has no preconditions and cannot fail.
    let mut command = if unsafe { libc::geteuid() } == 0 {
        let mut setpriv = Command::new("setpriv");
        setpriv.args(["--reuid=65534", "--regid=65534", "--clear-groups", binary]);
        setpriv
    } else {
        Command::new(binary)
    };
    let output = command.args(["watch", "1"]).output().expect("run memscope");
    assert_one_line_error(&output, "permission denied reading the memory of pid 1");
}

#[test]
fn a_process_exiting_mid_watch_ends_it_cleanly_with_the_samples_so_far() {
    let mut hog = Hog::start_for(8, 2);
    let pid = hog.pid().to_string();
    let output = memscope(&["watch", &pid, "--interval", "50", "--json"]);
    hog.wait();

    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stderr(&output), format!("pid {pid} exited\n"));
    let samples: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let samples = samples.as_array().unwrap();
    assert!(samples.len() >= 5, "{samples:?}");
    assert!(field(samples.last().unwrap(), "t_ms") < 4000);
}

#[test]
fn ctrl_c_ends_a_json_watch_cleanly() {
    let hog = Hog::start(8);
    let pid = hog.pid().to_string();
    let child = Command::new(env!("CARGO_BIN_EXE_memscope"))
        .args(["watch", &pid, "--interval", "50", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run memscope");
    wait_until_catching_sigint(child.id());
    thread::sleep(Duration::from_millis(200));
    // SAFETY: kill(2) only sends a signal to the child we started.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let output = child.wait_with_output().unwrap();

    assert!(output.status.success(), "{}", stderr(&output));
    let samples: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert!(!samples.as_array().unwrap().is_empty());
}

/// Waits until a process has installed its SIGINT handler: bit 1 (signal 2) of
/// SigCgt in /proc/PID/status, so that the test never races the handler.
fn wait_until_catching_sigint(pid: u32) {
    for _ in 0..500 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let caught = status
            .lines()
            .find_map(|line| line.strip_prefix("SigCgt:"))
            .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
            .expect("SigCgt line");
        if caught & (1 << (libc::SIGINT - 1)) != 0 {
            return;
        }
        thread::sleep(Duration::from_millis(10));
    }
    panic!("memscope never installed its SIGINT handler");
}

// ---------------------------------------------------------------------------------
// Issue 17: `watch -o` never destroys a file

fn watch_briefly(hog: &Hog, format: &str, file: &Path) -> Output {
    let pid = hog.pid().to_string();
    let file = file.to_str().unwrap();
    let args = ["watch", &pid, "--interval", "20", "--duration", "0.1", format, "-o", file];
    Command::new(env!("CARGO_BIN_EXE_memscope")).args(args).output().expect("run memscope")
}

/// A one-line `memscope:` error, exit status 2.
fn assert_refused(output: &Output, message: &str) {
    let stderr = stderr(output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_eq!(stderr.trim_end(), format!("memscope: {message}"));
}

#[test]
fn samples_never_overwrite_an_existing_file() {
    let hog = Hog::start(0);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("samples.csv");
    fs::write(&file, "an earlier watch\n").unwrap();
    for format in ["--csv", "--json"] {
        let output = watch_briefly(&hog, format, &file);
        let message = format!(
            "{} already exists; memscope does not overwrite it: remove it or give another name",
            file.display()
        );
        assert_refused(&output, &message);
        assert_eq!(fs::read_to_string(&file).unwrap(), "an earlier watch\n");
    }
}

#[test]
fn samples_never_follow_a_symlink() {
    let hog = Hog::start(0);
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target");
    fs::write(&target, "someone's file\n").unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o644)).unwrap();
    let link = dir.path().join("samples.csv");
    symlink(&target, &link).unwrap();
    let output = watch_briefly(&hog, "--csv", &link);
    let message = format!(
        "{} already exists (a symlink); memscope does not overwrite it: remove it or give another name",
        link.display()
    );
    assert_refused(&output, &message);
    assert_eq!(fs::read_to_string(&target).unwrap(), "someone's file\n");
    assert_eq!(fs::metadata(&target).unwrap().permissions().mode() & 0o777, 0o644);
    // A dangling symlink is not followed to create its target either.
    fs::remove_file(&target).unwrap();
    assert_refused(&watch_briefly(&hog, "--csv", &link), &message);
    assert!(!target.exists());
}

/// A symlink planted at the path while the watch starts: whichever comes first, the
/// planted link's target is never written, and a file memscope made is its own, 0600.
#[test]
fn a_symlink_planted_while_the_watch_starts_is_never_followed() {
    let hog = Hog::start(0);
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("victim");
    let (mut planted_first, mut created_first) = (0, 0);
    for round in 0..40 {
        fs::write(&target, "victim\n").unwrap();
        let path = dir.path().join(format!("samples-{round}.csv"));
        let pid = hog.pid().to_string();
        let child = Command::new(env!("CARGO_BIN_EXE_memscope"))
            .args(["watch", &pid, "--interval", "20", "--duration", "0.05", "--csv", "-o"])
            .arg(&path)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Plant the link as soon as possible after the start, up to once it exists.
        let deadline = Instant::now() + Duration::from_secs(5);
        let planted = loop {
            if symlink(&target, &path).is_ok() {
                break true;
            }
            if Instant::now() > deadline || fs::symlink_metadata(&path).is_ok() {
                break false;
            }
        };
        let output = child.wait_with_output().unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "victim\n", "round {round}");
        let kind = fs::symlink_metadata(&path).unwrap();
        if planted {
            planted_first += 1;
            assert!(kind.file_type().is_symlink(), "round {round}");
            assert!(stderr(&output).contains("already exists (a symlink)"), "{}", stderr(&output));
        } else {
            created_first += 1;
            assert!(output.status.success(), "round {round}: {}", stderr(&output));
            assert!(kind.file_type().is_file(), "round {round}");
            assert_eq!(kind.permissions().mode() & 0o777, 0o600);
            let csv = fs::read_to_string(&path).unwrap();
            assert!(csv.starts_with("t_ms,rss_bytes,"), "round {round}: {csv}");
        }
    }
    assert_eq!(planted_first + created_first, 40);
}

/// A chart is an export: it replaces a regular file, as other tools' `-o` does, by a
/// rename, so the old file's other names keep the old contents.
#[test]
fn a_chart_replaces_a_regular_file_in_one_rename() {
    let hog = Hog::start(0);
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("chart.svg");
    fs::write(&chart, "old chart\n").unwrap();
    let other_name = dir.path().join("kept.svg");
    fs::hard_link(&chart, &other_name).unwrap();
    let output = watch_briefly(&hog, "--plot", &chart);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(fs::read_to_string(&chart).unwrap().starts_with("<svg"));
    assert_eq!(fs::read_to_string(&other_name).unwrap(), "old chart\n");
    let left: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), 2, "{left:?}");
}

#[test]
fn a_chart_never_writes_through_a_symlink() {
    let hog = Hog::start(0);
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target");
    fs::write(&target, "someone's file\n").unwrap();
    let link = dir.path().join("chart.svg");
    symlink(&target, &link).unwrap();
    let output = watch_briefly(&hog, "--plot", &link);
    let message = format!(
        "{} (a symlink) is not a regular file; memscope replaces only regular files",
        link.display()
    );
    assert_refused(&output, &message);
    assert_eq!(fs::read_to_string(&target).unwrap(), "someone's file\n");
}
