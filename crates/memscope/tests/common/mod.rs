//! Shared by the memscope crate's tests: the example service, HTTP fetches, tools.
#![allow(dead_code)] // each test binary uses its own part

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[path = "../../../memscope-cli/tests/common/pprof.rs"]
pub mod pprof;

pub mod fixtures;

/// The example service's binary, which cargo builds for these tests.
pub fn leaky_service() -> PathBuf {
    let deps = std::env::current_exe().expect("the test's path");
    deps.parent().and_then(|d| d.parent()).expect("target/PROFILE").join("examples/leaky_service")
}

/// A running example service, killed when dropped.
pub struct Service {
    pub child: Child,
    /// `HOST:PORT` it serves.
    pub address: String,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Service {
    /// Starts the service with `args`, and waits for the address it serves.
    pub fn start(args: &[&str]) -> Service {
        let mut child = Command::new(leaky_service())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start leaky_service");
        let mut stdout = BufReader::new(child.stdout.take().expect("its stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read its first line");
        let address = line
            .trim()
            .strip_prefix("serving http://")
            .and_then(|rest| rest.strip_suffix("/debug/pprof/"))
            .unwrap_or_else(|| {
                panic!("leaky_service said {line:?}; stderr: {}", stderr_of(&mut child))
            })
            .to_owned();
        Service { child, address, stdout }
    }

    /// Waits for the line saying it handled its requests.
    pub fn wait_for_requests(&mut self) {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read its output");
        assert!(line.starts_with("handled "), "leaky_service said {line:?}");
    }

    /// `GET path` (with `headers`): the status and body.
    pub fn get(&self, path: &str, headers: &[&str]) -> (u16, Vec<u8>) {
        get(&self.address, path, headers)
    }

    /// The service's URL for `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stderr_of(child: &mut Child) -> String {
    let _ = child.wait();
    let mut text = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_string(&mut text);
    }
    text
}

/// Runs the service to its end: exit status, stdout, stderr.
pub fn run_service(args: &[&str]) -> std::process::Output {
    Command::new(leaky_service())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run leaky_service")
}

/// A plain HTTP/1.0 GET: the status and body.
pub fn get(address: &str, path: &str, headers: &[&str]) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(address).expect("connect to the service");
    stream.set_read_timeout(Some(Duration::from_secs(120))).expect("a read timeout");
    let mut request = format!("GET {path} HTTP/1.0\r\nHost: {address}\r\n");
    for header in headers {
        request.push_str(&format!("{header}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("send the request");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read the response");
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").expect("a header end");
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("a status");
    (status, response[split + 4..].to_vec())
}

/// Whether `tool` runs; in CI a missing tool fails the test instead.
pub fn have_tool(tool: &str, arg: &str) -> bool {
    let found = Command::new(tool).arg(arg).output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{tool} is not installed, and CI needs it"
        );
        eprintln!("note: {tool} is not installed; skipping");
    }
    found
}

/// `go tool pprof ARGS`: its stdout.
pub fn go_pprof(args: &[&str]) -> String {
    let output =
        Command::new("go").args(["tool", "pprof"]).args(args).output().expect("run go tool pprof");
    assert!(
        output.status.success(),
        "go tool pprof {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Sums the values of the samples whose leaf function's name ends with `function`.
pub fn leaf_sum(profile: &memscope_export::proto::Profile, function: &str) -> Vec<i64> {
    let tables = pprof::Tables::new(profile);
    let mut sum = vec![0; profile.sample_type.len()];
    for sample in &profile.sample {
        let leaf = tables.lines(tables.locations[&sample.location_id[0]])[0].0;
        if leaf.ends_with(function) {
            sum.iter_mut().zip(&sample.value).for_each(|(total, value)| *total += value);
        }
    }
    sum
}
