//! A trace written by the library (`mode = "trace"`) read back by the `memscope` reports,
//! with `--tag`: the example service's rule-0002 keeps exactly 1000 bytes a request.

mod common;

use std::path::Path;
use std::process::Command;

/// The `memscope` binary of the same build (`cargo build --workspace` makes it).
fn memscope_cli() -> std::path::PathBuf {
    let deps = std::env::current_exe().expect("the test's path");
    let cli = deps.parent().and_then(|d| d.parent()).expect("target/PROFILE").join("memscope");
    assert!(
        cli.exists(),
        "{} is missing: run `cargo build --workspace` before the tests",
        cli.display()
    );
    cli
}

/// `memscope top TRACE --json ARGS`: the sum of the rows' flat values.
fn top_total(trace: &Path, args: &[&str]) -> i64 {
    let output = Command::new(memscope_cli())
        .arg("top")
        .arg(trace)
        .args(["--json", "-n", "0"])
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let top: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    top["rows"].as_array().unwrap().iter().map(|row| row["flat"].as_i64().unwrap()).sum()
}

#[test]
fn reports_on_a_library_trace_keep_one_owner_with_tag() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("service.trace");
    let config = dir.path().join("service.toml");
    let toml = format!(
        "[memscope]\nenabled = true\nmode = \"trace\"\ntrace_path = \"{}\"\n",
        trace.display()
    );
    std::fs::write(&config, toml).unwrap();
    let run =
        common::run_service(&["--config", config.to_str().unwrap(), "--requests", "50", "--exit"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));

    assert_eq!(top_total(&trace, &["--tag", "rule-0002"]), 50 * 1000, "inuse_space of rule-0002");
    assert_eq!(top_total(&trace, &["--tag", "rule-0002", "--by", "alloc_objects"]), 50);
    assert_eq!(top_total(&trace, &["--tag", "rule-0003"]), 0, "rule-0003 frees what it makes");
    assert_eq!(top_total(&trace, &["--tag", "no-such-owner", "--by", "alloc_objects"]), 0);
    let everything = top_total(&trace, &[]);
    assert_eq!(
        everything - top_total(&trace, &["--ignore", r"^\[tag "]),
        50 * 1000,
        "tagged memory is rule-0002's"
    );
}
