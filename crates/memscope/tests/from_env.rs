//! Recording switched on from the environment, before `main`: `MEMSCOPE=1`, or
//! `MEMSCOPE_CONFIG` naming a file with a `[memscope]` table; a bad file is one line
//! on stderr and the program runs unrecorded. The test runs this binary again as the
//! child, with the environment set.

use std::process::Command;

#[global_allocator]
static ALLOCATOR: memscope::Profiler<std::alloc::System> =
    memscope::Profiler::new(std::alloc::System);

/// Set in the child: what it should see.
const EXPECT: &str = "MEMSCOPE_TEST_EXPECT";

/// In the child: allocates 4096 bytes and reports whether memscope counted them.
#[test]
fn child() {
    let Ok(expected) = std::env::var(EXPECT) else { return };
    let before = memscope::stats();
    let kept = std::hint::black_box(vec![0u8; 4096]);
    let after = memscope::stats();
    let counted = (after.live_bytes - before.live_bytes, after.allocations - before.allocations);
    match expected.as_str() {
        "recording" => assert_eq!(counted, (4096, 1)),
        _ => assert_eq!((after.allocations, after.live_bytes), (0, 0), "not recording"),
    }
    drop(kept);
}

fn run_child(env: &[(&str, &str)]) -> (bool, String) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env_remove("MEMSCOPE")
        .env_remove("MEMSCOPE_CONFIG")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn memscope_1_and_a_config_file_start_recording_before_main() {
    if std::env::var(EXPECT).is_ok() {
        return;
    }
    let (ok, stderr) = run_child(&[("MEMSCOPE", "1"), (EXPECT, "recording")]);
    assert!(ok, "{stderr}");
    let (ok, stderr) = run_child(&[(EXPECT, "off")]);
    assert!(ok, "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "[app]\nthreads = 4\n[memscope]\nenabled = true\n").unwrap();
    let (ok, stderr) =
        run_child(&[("MEMSCOPE_CONFIG", good.to_str().unwrap()), (EXPECT, "recording")]);
    assert!(ok, "{stderr}");

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[memscope]\nenabled = yes\n").unwrap();
    let (ok, stderr) = run_child(&[("MEMSCOPE_CONFIG", bad.to_str().unwrap()), (EXPECT, "off")]);
    assert!(ok, "{stderr}");
    let complaint: Vec<&str> = stderr.lines().filter(|l| l.starts_with("memscope:")).collect();
    assert_eq!(complaint.len(), 1, "{stderr}");
    assert!(
        complaint[0].starts_with("memscope: memscope configuration: ")
            && complaint[0].ends_with("; not recording"),
        "{stderr}"
    );
}
