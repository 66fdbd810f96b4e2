//! Issue 17: a mutation test over real traces. Each trace is damaged in many ways, at
//! seeded random places: a byte flipped, the file cut, runs of bytes inserted, deleted
//! or zeroed, whole blocks dropped, repeated or swapped. Every report must then finish
//! without a panic, within a time bound and under a memory bound, and print what the
//! intact trace gives unless it warns (or refuses the file with one line).

mod common;

use std::ops::Range;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{block_ranges, build_plain, memscope_bin, output_within, record, text};

/// No report of these small traces comes near this: reaching it means a hang.
const TIME_BOUND: Duration = Duration::from_secs(20);
/// Address space a report may use (threads' stacks, the allocator's arenas and the
/// mapped debug files included): a claim that makes it allocate gigabytes aborts it.
const MEMORY_BOUND: u64 = 1 << 30;
/// Mutants per trace; `MEMSCOPE_MUTANTS` asks for more, for a longer run by hand.
fn mutants() -> u64 {
    std::env::var("MEMSCOPE_MUTANTS").ok().and_then(|n| n.parse().ok()).unwrap_or(120)
}

/// A small seeded generator (xorshift64*), so a failure names a mutant that can be made
/// again.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Which damage a trace's format can be held to.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Format {
    /// Version 4: every byte is under a checksum and blocks are numbered.
    Checked,
    /// Versions 2 and 3: block headers carry no checksum and blocks no number, so a
    /// changed header byte, or a block moved whole, can go unseen. Their mutants change
    /// payload bytes, cut the file, or insert, delete or zero runs of bytes.
    Legacy,
}

/// One damaged copy of `bytes`, and how it was made.
fn mutant(
    bytes: &[u8],
    blocks: &[Range<usize>],
    random: &mut Random,
    format: Format,
) -> (Vec<u8>, String) {
    let mut out = bytes.to_vec();
    let mut at = random.below(bytes.len());
    let run = 1 + random.below(64);
    let block = blocks[random.below(blocks.len())].clone();
    let kinds = if format == Format::Checked { 8 } else { 5 };
    if format == Format::Legacy {
        // A payload byte: past the 13-byte header of the block it falls in.
        let hit = blocks.iter().find(|b| b.contains(&at)).cloned().unwrap_or(0..16);
        at = at.max((hit.start + 13).min(hit.end.saturating_sub(1)));
    }
    match random.below(kinds) {
        0 => {
            out[at] ^= 1 + random.below(255) as u8;
            (out, format!("byte {at} flipped"))
        }
        1 => {
            out.truncate(at);
            (out, format!("cut at byte {at}"))
        }
        2 => {
            let inserted: Vec<u8> = (0..run).map(|_| random.next() as u8).collect();
            out.splice(at..at, inserted);
            (out, format!("{run} bytes inserted at byte {at}"))
        }
        3 => {
            let end = (at + run).min(out.len());
            out.drain(at..end);
            (out, format!("bytes {at}..{end} deleted"))
        }
        4 => {
            let end = (at + run).min(out.len());
            out[at..end].fill(0);
            (out, format!("bytes {at}..{end} zeroed"))
        }
        5 => {
            out.drain(block.clone());
            (out, format!("block at bytes {block:?} dropped"))
        }
        6 => {
            let copy = bytes[block.clone()].to_vec();
            let to = blocks[random.below(blocks.len())].start;
            out.splice(to..to, copy);
            (out, format!("block at bytes {block:?} repeated at byte {to}"))
        }
        _ => {
            let index = blocks.iter().position(|b| *b == block).unwrap_or(0);
            let Some(next) = blocks.get(index + 1) else {
                return (out, "nothing changed (last block)".to_owned());
            };
            let swapped = [&bytes[next.clone()], &bytes[block.clone()]].concat();
            out.splice(block.start..next.end, swapped);
            (out, format!("blocks at bytes {block:?} and {next:?} swapped"))
        }
    }
}

/// `memscope ARGS TRACE` under the time and memory bounds.
fn report(args: &[&str], trace: &Path) -> Output {
    let mut command = Command::new(memscope_bin());
    command.args(args).arg(trace);
    // SAFETY: setrlimit is async-signal-safe and touches only the child's limits; the
    // closure allocates nothing.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit { rlim_cur: MEMORY_BOUND, rlim_max: MEMORY_BOUND };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    output_within(&mut command, TIME_BOUND)
}

/// The reports run on each mutant: the replays on every one, and one of the reports
/// that symbolize (slower) in turn.
fn reports_for(mutant: u64) -> [&'static [&'static str]; 3] {
    const SYMBOLIZED: [&[&str]; 3] =
        [&["top", "--json"], &["leaks", "--json"], &["peak", "--json"]];
    [
        &["summary", "--json"],
        &["timeline", "--json", "--interval", "1"],
        SYMBOLIZED[mutant as usize % 3],
    ]
}

/// Damages `original` [`mutants`] times and checks every report on every mutant.
fn mutate_and_check(name: &str, original: &[u8], seed: u64, format: Format) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let intact = dir.path().join(format!("{name}.trace"));
    std::fs::write(&intact, original).expect("write the trace");
    let all_reports = [
        &["summary", "--json"][..],
        &["timeline", "--json", "--interval", "1"],
        &["top", "--json"],
        &["leaks", "--json"],
        &["peak", "--json"],
    ];
    let baseline: Vec<(Vec<&str>, Vec<u8>)> = all_reports
        .iter()
        .map(|args| {
            let output = report(args, &intact);
            assert!(
                output.status.success(),
                "{args:?} on the intact {name}: {}",
                text(&output.stderr)
            );
            assert!(
                output.stderr.is_empty(),
                "{args:?} on the intact {name}: {}",
                text(&output.stderr)
            );
            (args.to_vec(), output.stdout)
        })
        .collect();
    let blocks = block_ranges(original);
    let mut random = Random(seed);
    let mut warned = 0;
    for index in 0..mutants() {
        let (bytes, how) = mutant(original, &blocks, &mut random, format);
        let path = dir.path().join(format!("{name}-{index}.trace"));
        std::fs::write(&path, &bytes).expect("write the mutant");
        for args in reports_for(index) {
            let output = report(args, &path);
            let stderr = text(&output.stderr);
            let context = format!("{name} mutant {index} ({how}), memscope {args:?}:\n{stderr}");
            assert!(!stderr.contains("panicked"), "{context}");
            let expected = &baseline.iter().find(|(a, _)| a == args).expect("a baseline").1;
            match output.status.code() {
                Some(0) if output.stdout == *expected => {}
                Some(0) => assert!(
                    stderr.contains("memscope: warning: "),
                    "changed without a warning: {context}"
                ),
                Some(2) => {
                    assert_eq!(stderr.lines().count(), 1, "{context}");
                    assert!(stderr.starts_with("memscope: "), "{context}");
                }
                _ => panic!("{context}\nended by {:?}", output.status),
            }
            warned += usize::from(stderr.contains("memscope: warning: "));
        }
        std::fs::remove_file(&path).expect("remove the mutant");
    }
    // Nearly every mutant is damage the reader must see (a flip inside a block always
    // is); a few leave the reports as they were.
    assert!(warned as u64 >= mutants() * 2, "only {warned} warnings over {} mutants", mutants());
}

fn recorded(program: &str, args: &[&str]) -> Vec<u8> {
    let run = record(&build_plain(program), args);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    std::fs::read(&run.trace).expect("read the trace")
}

#[test]
fn mutants_of_a_recording_of_every_hook() {
    mutate_and_check("hooks", &recorded("hooks.c", &["all"]), 0x5eed_0001, Format::Checked);
}

#[test]
fn mutants_of_a_recording_of_four_threads() {
    let trace = recorded("endings.c", &["threads", "4", "3000"]);
    mutate_and_check("threads", &trace, 0x5eed_0002, Format::Checked);
}

/// A trace written by format version 3, whose damage ends the reading where it is.
#[test]
fn mutants_of_a_version_3_recording() {
    let fixture: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../memscope-format/tests/fixtures/small-v3.trace");
    let bytes = std::fs::read(&fixture).expect("read the fixture");
    mutate_and_check("small-v3", &bytes, 0x5eed_0003, Format::Legacy);
}
