//! `cargo install` gives a `memscope` that records with no other file: the binary,
//! installed into a temporary root and copied alone into an empty directory, records
//! the golden fixture (tests/fixtures/golden/golden.c, 11 allocations) through the
//! preload library embedded in it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{build_file, output_within, text};
use serde_json::Value;

/// `cargo install --path crates/memscope-cli --root ROOT`, offline and from the
/// lock file, into this build's own target directory with this build's profile, so
/// it reuses what `cargo test` built instead of building everything again.
fn install(root: &Path) -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("the target directory");
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo
        .args(["install", "--offline", "--locked", "--quiet", "--path"])
        .arg(manifest)
        .arg("--root")
        .arg(root)
        .arg("--target-dir")
        .arg(target);
    if cfg!(debug_assertions) {
        cargo.arg("--debug");
    }
    let output = output_within(&mut cargo, INSTALL_TIMEOUT);
    assert!(output.status.success(), "cargo install: {}", text(&output.stderr));
    root.join("bin/memscope")
}

/// Reusing the test build, the install links one binary; a cold one builds the preload
/// library too.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);

#[test]
fn an_installed_binary_copied_alone_records_a_program() {
    let root = tempfile::tempdir().expect("a root to install into");
    let installed = install(root.path());
    let alone = tempfile::tempdir().expect("an empty directory");
    let cache = tempfile::tempdir().expect("a cache directory");
    let memscope = alone.path().join("memscope");
    std::fs::copy(&installed, &memscope).expect("copy the installed memscope");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden/golden.c");
    std::fs::copy(build_file(&fixture, &["-O0"]), alone.path().join("prog")).expect("copy prog");
    let run = |args: &[&str]| {
        let mut command = Command::new(&memscope);
        command
            .args(args)
            .current_dir(alone.path())
            .env("XDG_CACHE_HOME", cache.path())
            .env_remove("MEMSCOPE_PRELOAD");
        output_within(&mut command, common::RUN_TIMEOUT)
    };

    let recorded = run(&["run", "-o", "T", "--", "./prog"]);
    assert!(recorded.status.success(), "memscope run: {}", text(&recorded.stderr));
    let summary = run(&["summary", "--json", "T"]);
    assert!(summary.status.success(), "memscope summary: {}", text(&summary.stderr));

    let summary: Value = serde_json::from_slice(&summary.stdout).expect("summary --json");
    assert_eq!(summary["allocations"], 11, "{summary}");
    assert_eq!(summary["frees"], 8, "{summary}");
    let libraries: Vec<_> = std::fs::read_dir(cache.path().join("memscope"))
        .expect("the library's cache directory")
        .map(|entry| entry.expect("an entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(libraries.len(), 1, "{libraries:?}");
    assert!(libraries[0].starts_with("libmemscope_preload-"), "{libraries:?}");
}
