//! Issue 17: `memscope watch -o` never destroys a file. Samples go to a new owner-only
//! file and never through a symlink, even one planted while the watch starts; a chart
//! replaces a regular file in one rename, never writing through a symlink.

#[path = "../../memscope-system/tests/support/hog.rs"]
mod hog;

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use hog::Hog;

fn watch(hog: &Hog, format: &str, file: &Path) -> Output {
    let pid = hog.pid().to_string();
    let file = file.to_str().unwrap();
    let args = ["watch", &pid, "--interval", "20", "--duration", "0.1", format, "-o", file];
    Command::new(env!("CARGO_BIN_EXE_memscope")).args(args).output().expect("run memscope")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
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
        let output = watch(&hog, format, &file);
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
    let output = watch(&hog, "--csv", &link);
    let message = format!(
        "{} already exists (a symlink); memscope does not overwrite it: remove it or give another name",
        link.display()
    );
    assert_refused(&output, &message);
    assert_eq!(fs::read_to_string(&target).unwrap(), "someone's file\n");
    assert_eq!(fs::metadata(&target).unwrap().permissions().mode() & 0o777, 0o644);
    // A dangling symlink is not followed to create its target either.
    fs::remove_file(&target).unwrap();
    assert_refused(&watch(&hog, "--csv", &link), &message);
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
        let mut child = Command::new(env!("CARGO_BIN_EXE_memscope"))
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
    let output = watch(&hog, "--plot", &chart);
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
    let output = watch(&hog, "--plot", &link);
    let message = format!(
        "{} (a symlink) is not a regular file; memscope replaces only regular files",
        link.display()
    );
    assert_refused(&output, &message);
    assert_eq!(fs::read_to_string(&target).unwrap(), "someone's file\n");
}
