//! Issue 12, "Live profiles from a running program": `memscope run --serve` gives any
//! program Go's `/debug/pprof` layout, exact, from memscope's own process. The fixture
//! (`fixtures/serve/server.c`) leaks 1 MiB through `leak_site` in 16 blocks, and frees
//! half of them on SIGUSR1.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::pprof::{decode_bytes, Tables};
use common::{build_file, have_tool, memscope_bin, text};
use memscope_export::proto;

const MIB: i64 = 1 << 20;

fn server() -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/serve/server.c");
    build_file(&source, &["-O0"])
}

/// A `memscope run --serve` of the fixture, and the address it serves.
struct Served {
    run: Child,
    address: String,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
}

fn lines_of<R: Read + Send + 'static>(from: R) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_for(lines: &mpsc::Receiver<String>, what: impl Fn(&str) -> bool) -> String {
    loop {
        let line = lines.recv_timeout(Duration::from_secs(20)).expect("a line before the timeout");
        if what(&line) {
            return line;
        }
    }
}

impl Served {
    fn start(options: &[&str]) -> Served {
        let mut run = Command::new(memscope_bin())
            .args(["run", "--serve"])
            .args(options)
            .arg("--")
            .arg(server())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start memscope run --serve");
        let stdout: ChildStdout = run.stdout.take().unwrap();
        let stderr: ChildStderr = run.stderr.take().unwrap();
        let (stdout, stderr) = (lines_of(stdout), lines_of(stderr));
        let line = wait_for(&stderr, |l| l.starts_with("memscope: serving "));
        let address = line
            .strip_prefix("memscope: serving http://")
            .and_then(|rest| rest.strip_suffix("/debug/pprof/"))
            .unwrap_or_else(|| panic!("{line}"))
            .to_owned();
        wait_for(&stdout, |l| l == "ready");
        Served { run, address, stdout, stderr }
    }

    fn pid(&self) -> i32 {
        // The fixture is memscope run's child.
        let children = std::fs::read_to_string(format!(
            "/proc/{}/task/{}/children",
            self.run.id(),
            self.run.id()
        ))
        .expect("the children of memscope run");
        children.split_whitespace().next().expect("a child").parse().expect("a pid")
    }

    fn release_half(&self) {
        // SAFETY: kill has no memory effects; the pid is the fixture's.
        unsafe { libc::kill(self.pid(), libc::SIGUSR1) };
        wait_for(&self.stdout, |l| l == "released");
    }

    /// Ends the fixture and returns memscope's stderr after the serving line.
    fn stop(mut self) -> String {
        // SAFETY: as above.
        unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        let status = self.run.wait().expect("wait for memscope run");
        assert!(status.success(), "memscope run: {status:?}");
        let mut rest = String::new();
        while let Ok(line) = self.stderr.recv_timeout(Duration::from_secs(5)) {
            rest.push_str(&line);
            rest.push('\n');
        }
        rest
    }
}

/// A GET of `path` (status, body), with a bearer token if given: a plain HTTP/1.0
/// client, so that the tests depend on no HTTP library of memscope's.
fn get(address: &str, path: &str, token: Option<&str>) -> (u16, Vec<u8>) {
    request(address, "GET", path, token)
}

fn request(address: &str, method: &str, path: &str, token: Option<&str>) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(address).expect("connect to the endpoint");
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(stream, "{method} {path} HTTP/1.0\r\nHost: {address}\r\n{auth}\r\n").unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("read the answer");
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").expect("a header");
    let head = text(&answer[..split]);
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("a status");
    (status, answer[split + 4..].to_vec())
}

/// inuse_space of the samples whose leaf function is leak_site, and the four values.
fn leak_values(profile: &[u8]) -> Vec<i64> {
    let profile = decode_bytes(profile);
    let types: Vec<String> = profile
        .sample_type
        .iter()
        .map(|t| profile.string_table[t.r#type as usize].clone())
        .collect();
    assert_eq!(types, ["alloc_objects", "alloc_space", "inuse_objects", "inuse_space"]);
    Tables::new(&profile).leaf_values("leak_site")
}

/// A delta profile's time and duration are its window's, as its comment says them
/// ("... from A to B ms"), and the window is the `?seconds=` asked for (the clock
/// moves in steps of a few milliseconds; a loaded machine may hold the second
/// snapshot a little longer).
fn assert_delta_window(profile: &proto::Profile, asked: Duration) {
    let comment = &profile.string_table[profile.comment[0] as usize];
    let window = comment.split_once(" from ").and_then(|(_, rest)| rest.strip_suffix(" ms"));
    let (from, to) =
        window.and_then(|w| w.split_once(" to ")).unwrap_or_else(|| panic!("{comment}"));
    let ns = |ms: &str| (ms.parse::<f64>().unwrap() * 1e6).round() as i64;
    assert_eq!(profile.duration_nanos, ns(to) - ns(from), "{comment}");
    let asked = asked.as_nanos() as i64;
    assert!(
        (asked - 10_000_000..asked + 300_000_000).contains(&profile.duration_nanos),
        "{comment}"
    );
}

#[test]
fn the_heap_profile_holds_the_leak_exactly_before_and_after_it_is_halved() {
    let served = Served::start(&["127.0.0.1:0"]);
    let (status, heap) = get(&served.address, "/debug/pprof/heap", None);
    assert_eq!(status, 200, "{}", text(&heap));
    assert_eq!(leak_values(&heap), [16, MIB, 16, MIB]);
    let profile = decode_bytes(&heap);
    assert_eq!(profile.string_table[profile.default_sample_type as usize], "inuse_space");
    served.release_half();
    let (_, heap) = get(&served.address, "/debug/pprof/heap?gc=1", None);
    assert_eq!(leak_values(&heap), [16, MIB, 8, MIB / 2]);
    let (_, allocs) = get(&served.address, "/debug/pprof/allocs", None);
    let profile = decode_bytes(&allocs);
    assert_eq!(profile.string_table[profile.default_sample_type as usize], "alloc_space");
    let stats: serde_json::Value =
        serde_json::from_slice(&get(&served.address, "/debug/memscope/stats", None).1).unwrap();
    let end = served.stop();
    // The summary at the end is of the same state: what was live is what leaked.
    assert!(end.contains(&format!(" in {} blocks\n", stats["live_blocks"])), "{stats} {end}");
    assert!(end.contains("(live mode: no trace was written)"), "{end}");
}

#[test]
fn go_tool_pprof_reads_the_live_profile() {
    if !have_tool("go", "version") {
        return;
    }
    let served = Served::start(&[":0"]);
    let url = format!("http://{}/debug/pprof/heap", served.address);
    let output = Command::new("go")
        .args(["tool", "pprof", "-top", "-sample_index=inuse_space", "-unit=B"])
        .arg(&url)
        .env("PPROF_TMPDIR", std::env::temp_dir())
        .output()
        .expect("run go tool pprof");
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let leak =
        stdout.lines().find(|l| l.ends_with(" leak_site")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(leak.trim_start().starts_with("1048576B "), "{leak}");
    served.release_half();
    let output =
        Command::new("go").args(["tool", "pprof", "-top", "-unit=B"]).arg(&url).output().unwrap();
    let stdout = text(&output.stdout);
    let leak =
        stdout.lines().find(|l| l.ends_with(" leak_site")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(leak.trim_start().starts_with("524288B "), "{leak}");
    served.stop();
}

#[test]
fn the_text_form_the_delta_the_stats_and_the_index() {
    let served = Served::start(&[":0"]);
    let stats: serde_json::Value =
        serde_json::from_slice(&get(&served.address, "/debug/memscope/stats", None).1).unwrap();
    let (status, body) = get(&served.address, "/debug/pprof/heap?debug=1", None);
    assert_eq!(status, 200);
    let body = text(&body);
    let first = body.lines().next().unwrap();
    // Nothing is freed yet: all that was allocated is in use.
    let (blocks, bytes) = (&stats["live_blocks"], &stats["live_bytes"]);
    assert_eq!(first, format!("heap profile: {blocks}: {bytes} [{blocks}: {bytes}] @ heap/1"));
    let record = body
        .lines()
        .find(|l| l.starts_with("16: 1048576 [16: 1048576] @ "))
        .unwrap_or_else(|| panic!("{body}"));
    assert!(record.contains("0x"), "{record}");
    assert!(
        body.lines().any(|l| l.starts_with("#\t0x")
            && l.contains("\tleak_site\t")
            && l.contains("server.c:")),
        "{body}"
    );

    let base_bytes = stats["live_bytes"].as_u64().unwrap() - MIB as u64;
    let base_blocks = stats["live_blocks"].as_u64().unwrap() - 16;
    for key in [
        "peak_bytes",
        "peak_time_ms",
        "total_allocated_bytes",
        "allocations",
        "frees",
        "rss_bytes",
        "peak_rss_bytes",
    ] {
        assert!(stats.get(key).is_some(), "{key} in {stats}");
    }
    assert_eq!(stats["frees"], 0);
    assert_eq!(stats["total_allocated_bytes"], stats["live_bytes"]);
    assert_eq!(stats["allocations"], stats["live_blocks"]);
    // The leak was written to, so its pages are resident.
    let (rss, peak_rss) =
        (stats["rss_bytes"].as_u64().unwrap(), stats["peak_rss_bytes"].as_u64().unwrap());
    assert!(rss >= MIB as u64 && peak_rss >= rss, "{stats}");

    // A delta over one second in which half of the leak is freed.
    let address = served.address.clone();
    let delta = std::thread::spawn(move || get(&address, "/debug/pprof/heap?seconds=1", None));
    std::thread::sleep(Duration::from_millis(300));
    served.release_half();
    let (status, delta) = delta.join().unwrap();
    assert_eq!(status, 200);
    assert_eq!(leak_values(&delta), [0, 0, -8, -MIB / 2]);
    assert_delta_window(&decode_bytes(&delta), Duration::from_secs(1));

    let after: serde_json::Value =
        serde_json::from_slice(&get(&served.address, "/debug/memscope/stats", None).1).unwrap();
    assert_eq!(after["live_bytes"].as_u64().unwrap(), base_bytes + MIB as u64 / 2);
    assert_eq!(after["live_blocks"].as_u64().unwrap(), base_blocks + 8);
    assert_eq!(after["frees"], 8);
    assert_eq!(after["peak_bytes"].as_u64().unwrap(), base_bytes + MIB as u64);

    let (status, index) = get(&served.address, "/debug/pprof/", None);
    assert_eq!(status, 200);
    let index = text(&index);
    for link in [
        "/debug/pprof/heap",
        "/debug/pprof/allocs",
        "/debug/pprof/cmdline",
        "/debug/memscope/stats",
    ] {
        assert!(index.contains(&format!("href=\"{link}\"")), "{index}");
    }
    let (_, cmdline) = get(&served.address, "/debug/pprof/cmdline", None);
    assert_eq!(text(&cmdline), server().display().to_string());
    let (_, timeline) = get(&served.address, "/debug/memscope/timeline", None);
    let timeline: serde_json::Value = serde_json::from_slice(&timeline).unwrap();
    assert!(
        timeline.as_array().unwrap().iter().any(|row| row["bytes"].as_u64() >= Some(MIB as u64)),
        "{timeline}"
    );
    served.stop();
}

#[test]
fn bad_requests_get_a_4xx_with_one_line() {
    let served = Served::start(&[":0"]);
    let cases = [
        ("GET", "/debug/pprof/nothing", 404),
        ("GET", "/debug/pprof/heap?debug=x", 400),
        ("GET", "/debug/pprof/heap?seconds=0", 400),
        ("GET", "/debug/pprof/heap?fast=1", 400),
        ("POST", "/debug/pprof/heap", 405),
        ("DELETE", "/debug/pprof/", 405),
    ];
    for (method, path, expected) in cases {
        let (status, body) = request(&served.address, method, path, None);
        assert_eq!(status, expected, "{method} {path}");
        let body = text(&body);
        assert_eq!(body.lines().count(), 1, "{method} {path}: {body}");
    }
    let long = format!("/debug/pprof/heap?debug=1&{}", "x".repeat(5000));
    assert_eq!(get(&served.address, &long, None).0, 414);
    // Still serving.
    assert_eq!(get(&served.address, "/debug/pprof/heap", None).0, 200);
    served.stop();
}

#[test]
fn a_non_loopback_address_is_refused_without_a_token_and_served_with_one() {
    let run = common::memscope(&["run", "--serve", "0.0.0.0:0", "--", "true"]);
    common::assert_one_line_error(&run, "is not a loopback address");
    let run = common::memscope(&["run", "--serve", "0.0.0.0:0", "--allow-remote", "--", "true"]);
    common::assert_one_line_error(&run, "--allow-remote needs a token");

    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "s3cret\n").unwrap();
    let served = Served::start(&[
        "0.0.0.0:0",
        "--allow-remote",
        "--token-file",
        token_file.to_str().unwrap(),
    ]);
    let port = served.address.rsplit(':').next().unwrap();
    let local = format!("127.0.0.1:{port}");
    assert_eq!(get(&local, "/debug/pprof/heap", None).0, 401);
    assert_eq!(get(&local, "/debug/pprof/heap", Some("wrong")).0, 401);
    let (status, heap) = get(&local, "/debug/pprof/heap", Some("s3cret"));
    assert_eq!(status, 200);
    assert_eq!(leak_values(&heap), [16, MIB, 16, MIB]);
    // The token check comes before anything else: a bad path without it is a 401 too.
    assert_eq!(get(&local, "/nothing", None).0, 401);
    served.stop();
}

/// The token in MEMSCOPE_TOKEN is the endpoint's secret: the program does not get it.
#[test]
fn the_program_does_not_inherit_the_endpoints_token() {
    let shown = Command::new(memscope_bin())
        .args(["run", "--serve", "127.0.0.1:0", "--", "sh", "-c", "echo ${MEMSCOPE_TOKEN-unset}"])
        .env("MEMSCOPE_TOKEN", "s3cret")
        .output()
        .expect("run memscope");
    assert!(shown.status.success(), "{}", common::text(&shown.stderr));
    assert_eq!(common::text(&shown.stdout), "unset\n");
}

#[test]
fn a_trace_path_serves_and_writes_the_trace_too() {
    // -o without --mode: the user asked for the trace, so it is trace mode.
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace");
    let served = Served::start(&[":0", "-o", trace.to_str().unwrap()]);
    assert_eq!(leak_values(&get(&served.address, "/debug/pprof/heap", None).1), [16, MIB, 16, MIB]);
    let end = served.stop();
    assert!(end.contains(&format!("trace: {}", trace.display())), "{end}");
    let leaks = common::leaks(&trace);
    let leak = common::leak_at(&leaks, "leak_site");
    assert_eq!((leak.blocks, leak.bytes), (16, MIB as u64));
}

#[test]
fn live_mode_without_serve_prints_the_summary_and_writes_outputs_at_exit() {
    let endings = common::build_plain("endings.c");
    let dir = tempfile::tempdir().unwrap();
    let mut run = Command::new(memscope_bin());
    run.args(["run", "--mode", "live", "--export", "end.pb.gz", "--report", "end.html", "--"])
        .arg(&endings)
        .args(["exit", "0"])
        .current_dir(dir.path());
    let output = common::output_within(&mut run, common::RUN_TIMEOUT);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("total memory leaked: "), "{stderr}");
    assert!(stderr.contains("(live mode: no trace was written)"), "{stderr}");
    let files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut files = files;
    files.sort();
    assert_eq!(files, ["end.html", "end.pb.gz"], "no trace, the two outputs");
    let profile = common::pprof::decode(&dir.path().join("end.pb.gz"));
    assert_eq!(Tables::new(&profile).leaf_values("ending_site"), [3, 300, 3, 300]);
    assert!(std::fs::read_to_string(dir.path().join("end.html")).unwrap().contains("ending_site"));
}

/// The peak resident set of process `pid` (VmHWM), bytes.
fn peak_rss(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

/// The endpoint runs in memscope's process, not the program's: answering (symbols
/// included) costs the program no memory at all.
#[test]
fn twenty_heap_requests_cost_the_program_no_memory() {
    let served = Served::start(&[":0"]);
    let pid = served.pid();
    let before = peak_rss(pid);
    for _ in 0..20 {
        let (status, heap) = get(&served.address, "/debug/pprof/heap", None);
        assert_eq!(status, 200);
        assert_eq!(leak_values(&heap), [16, MIB, 16, MIB]);
    }
    let after = peak_rss(pid);
    assert!(
        after - before <= 64 << 10,
        "the program's peak RSS grew from {before} to {after} bytes"
    );
    served.stop();
}
