//! Builds the preload library and embeds it in the `memscope` binary, so that an
//! installed `memscope` (`cargo install`, or a copied binary) records with no other
//! file. The library is a `cdylib` of this workspace, which stable Cargo cannot hand to
//! another package as an artifact: it is built by a nested Cargo into this build's
//! output directory.
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by Cargo"));
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by Cargo"));
    let crates = manifest_dir.parent().expect("crates/").to_owned();
    for watched in ["memscope-preload", "memscope-agent"] {
        println!("cargo:rerun-if-changed={}", crates.join(watched).display());
    }
    let target_dir = out_dir.join("preload-target");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--quiet", "--manifest-path"])
        .arg(crates.join("memscope-preload/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        // The outer build's settings for its own packages do not apply here.
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .status()
        .expect("run cargo to build the preload library");
    assert!(status.success(), "building the preload library failed");
    let library = target_dir.join("release/libmemscope_preload.so");
    let embedded = out_dir.join("libmemscope_preload.so");
    std::fs::copy(&library, &embedded).expect("copy the preload library");
    println!("cargo:rustc-env=MEMSCOPE_EMBEDDED_PRELOAD={}", embedded.display());
}
