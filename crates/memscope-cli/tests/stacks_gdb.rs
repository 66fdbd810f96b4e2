//! memscope's stacks against gdb's, at the same allocation calls. gdb stops at each
//! malloc/calloc of a marked size and prints `bt`; memscope records the same program
//! with address randomisation off (as gdb runs it), so the return addresses of both
//! must be equal, frame by frame, from the allocating function up to `main`.
//!
//! The fixture is built without sibling-call optimisation: gdb shows a function that
//! left by a tail call as a frame of its own (from DWARF call-site data), although
//! nothing of it is left on the stack for any unwinder to find.

mod common;

use std::process::Command;

use common::{build, record_with, Leak};

/// The sizes gdb_sites.c allocates at its three sites.
const SIZES: [u64; 3] = [1001, 1002, 1003];

/// Return addresses gdb shows for the allocation of `size`, from the caller of the
/// allocation function up to main.
fn gdb_stacks(program: &std::path::Path) -> Vec<Vec<u64>> {
    let output = Command::new("gdb")
        .args(["-batch", "-nx", "-ex", "set breakpoint pending on"])
        .args(["-ex", "break malloc if $rdi == 1001 || $rdi == 1003"])
        .args(["-ex", "break calloc if $rsi == 1002"])
        .args([
            "-ex", "run", "-ex", "bt", "-ex", "continue", "-ex", "bt", "-ex", "continue", "-ex",
            "bt", "-ex", "continue",
        ])
        .arg(program)
        .output()
        .expect("run gdb");
    let text = String::from_utf8_lossy(&output.stdout);
    let mut stacks: Vec<Vec<u64>> = Vec::new();
    for line in text.lines().filter(|l| l.starts_with('#')) {
        if line.starts_with("#0 ") {
            stacks.push(Vec::new());
            continue;
        }
        let address = line
            .split_whitespace()
            .nth(1)
            .and_then(|a| u64::from_str_radix(a.trim_start_matches("0x"), 16).ok());
        stacks.last_mut().expect("a #0 line first").push(address.expect("a frame address"));
    }
    assert_eq!(stacks.len(), 3, "gdb did not stop three times:\n{text}");
    stacks
}

/// memscope's return addresses for the leak of `size`, up to (and with) `main`'s.
fn memscope_stack(leaks: &[Leak], size: u64) -> Vec<u64> {
    let leak = leaks
        .iter()
        .find(|l| l.bytes == size)
        .unwrap_or_else(|| panic!("no leak of {size} bytes: {leaks:#?}"));
    // Inlined functions are frames of their own that share their caller's address;
    // a recursive call repeats both the address and the function.
    let mut addresses: Vec<u64> = Vec::new();
    let mut group_function = "";
    for frame in &leak.stack {
        if addresses.last() != Some(&frame.address) || frame.function == group_function {
            addresses.push(frame.address);
            group_function = &frame.function;
        }
        if frame.function == "main" {
            break;
        }
    }
    addresses
}

fn compare(flags: &[&str], options: &[&str]) {
    let program = build("gdb_sites.c", flags);
    let expected = gdb_stacks(&program);
    // `setarch -R` turns address randomisation off, then execs the program, whose
    // image is the last of the process and so writes TRACE (setarch's own, short
    // recording is TRACE.PID.0).
    let setarch = [std::ffi::OsStr::new("-R"), program.as_os_str()];
    let recording = record_with(options, std::path::Path::new("setarch"), &setarch);
    assert_eq!(recording.code(), Some(0), "{}", recording.stderr());
    let leaks = common::leaks(&recording.trace);
    for (size, gdb) in SIZES.iter().zip(&expected) {
        assert_eq!(&memscope_stack(&leaks, *size), gdb, "stack of the {size}-byte allocation");
    }
}

#[test]
fn dwarf_stacks_match_gdb_without_frame_pointers() {
    compare(&["-O2", "-fomit-frame-pointer", "-fno-optimize-sibling-calls"], &[]);
}

#[test]
fn frame_pointer_stacks_match_gdb_with_frame_pointers() {
    compare(
        &["-O2", "-fno-omit-frame-pointer", "-fno-optimize-sibling-calls"],
        &["--unwind", "fp"],
    );
}
