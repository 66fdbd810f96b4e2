//! Symbolizes real return addresses: fixture programs are compiled at test time, print the
//! modules and return addresses a recorder would have seen, and exit; the symbolizer then
//! works from the files on disk, exactly as after a profiling run.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use memscope_analyze::{Frame, ModuleRef, SymbolWarning, Symbolizer};
use tempfile::TempDir;

/// What a fixture printed: the loaded modules and labelled return addresses.
struct Report {
    modules: Vec<ModuleRef>,
    addresses: HashMap<String, u64>,
}

impl Report {
    fn address(&self, label: &str) -> u64 {
        self.addresses[label]
    }

    /// The module containing `address`.
    fn module_of(&self, address: u64) -> &ModuleRef {
        let contains = |module: &&ModuleRef| module.ranges.iter().any(|r| r.contains(&address));
        self.modules.iter().find(contains).expect("address in a recorded module")
    }
}

fn fixture_source(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// Runs `command` to completion, failing the test with its stderr if it fails.
fn run(command: &mut Command) -> String {
    let output = command.output().unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// Compiles `report.c` (the fixtures' printing helpers) into `dir`.
fn report_object(dir: &Path) -> PathBuf {
    let object = dir.join("report.o");
    run(Command::new("gcc")
        .args(["-c", "-O1", "-g", "-o"])
        .arg(&object)
        .arg(fixture_source("report.c")));
    object
}

/// Compiles a C or C++ fixture with `compiler` and `flags` into `dir/<stem>`.
fn build_c(dir: &Path, compiler: &str, source: &str, flags: &[&str]) -> PathBuf {
    let report = report_object(dir);
    let binary = dir.join(Path::new(source).file_stem().expect("source file stem"));
    run(Command::new(compiler)
        .args(flags)
        .arg("-Wl,--build-id")
        .arg("-I")
        .arg(fixture_source(""))
        .arg(fixture_source(source))
        .arg(report)
        .arg("-o")
        .arg(&binary));
    binary
}

/// Runs a fixture and parses what it printed. The loader reports the main executable with
/// an empty name, which is replaced by the binary's path, as the caller does with
/// `/proc/PID/exe`.
fn run_fixture(binary: &Path) -> Report {
    let stdout = run(&mut Command::new(binary));
    let mut report = Report { modules: Vec::new(), addresses: HashMap::new() };
    for line in stdout.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields[..] {
            ["module", bias, build_id, ranges, path] => report.modules.push(ModuleRef {
                path: if path.is_empty() { binary.to_owned() } else { PathBuf::from(path) },
                build_id: (build_id != "-").then(|| parse_hex_bytes(build_id)),
                load_bias: parse_hex(bias),
                ranges: ranges
                    .split(',')
                    .map(|range| {
                        let (start, end) = range.split_once('-').expect("start-end");
                        parse_hex(start)..parse_hex(end)
                    })
                    .collect(),
            }),
            ["addr", label, address] => {
                report.addresses.insert(label.to_owned(), parse_hex(address));
            }
            _ => panic!("unexpected fixture output line {line:?}"),
        }
    }
    report
}

fn parse_hex(text: &str) -> u64 {
    u64::from_str_radix(text, 16).unwrap_or_else(|e| panic!("{text:?} is not hex: {e}"))
}

fn parse_hex_bytes(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| parse_hex(&text[i..i + 2]) as u8).collect()
}

/// The 1-based line of `source` that carries the comment `MARK:<marker>`.
fn marker_line(source: &str, marker: &str) -> u32 {
    let text = fs::read_to_string(fixture_source(source)).expect("fixture source");
    let tag = format!("MARK:{marker}");
    let index = text.lines().position(|line| line.contains(&tag)).expect("marker in source");
    u32::try_from(index + 1).expect("line number fits")
}

fn file_name(frame: &Frame) -> Option<&OsStr> {
    Path::new(frame.file.as_deref()?).file_name()
}

/// The frames of one address.
fn resolve_one(symbolizer: &Symbolizer, address: u64) -> Vec<Frame> {
    symbolizer.resolve(&[address]).remove(&address).expect("every address is answered")
}

/// Builds `plain.c`, splits its debug info into `plain.debug` and strips the binary of
/// everything but its dynamic symbols; `link` adds a `.gnu_debuglink` to the debug file.
fn stripped_plain(dir: &Path, link: bool) -> (PathBuf, PathBuf) {
    let binary = build_c(dir, "gcc", "plain.c", &["-O0", "-g"]);
    let debug = dir.join("plain.debug");
    run(Command::new("objcopy").arg("--only-keep-debug").arg(&binary).arg(&debug));
    let mut strip = Command::new("objcopy");
    strip.arg("--strip-all");
    if link {
        // objcopy looks the file up relative to the working directory to compute its CRC.
        strip.current_dir(dir).arg("--add-gnu-debuglink=plain.debug");
    }
    run(strip.arg(&binary));
    (binary, debug)
}

/// Moves `debug` to where a debug root keeps it for `module`: `.build-id/xx/yyyy.debug`.
fn install_by_build_id(debug: &Path, module: &ModuleRef, debug_root: &Path) {
    let build_id = module.build_id.as_deref().expect("fixture has a build id");
    let build_id_dir = debug_root.join(".build-id").join(format!("{:02x}", build_id[0]));
    fs::create_dir_all(&build_id_dir).unwrap();
    let name: String = build_id[1..].iter().map(|byte| format!("{byte:02x}")).collect();
    fs::rename(debug, build_id_dir.join(format!("{name}.debug"))).unwrap();
}

/// The frame `plain.c`'s `work` must resolve to when its debug info is found.
fn assert_is_work_frame(frames: &[Frame], address: u64) {
    let [frame] = frames else { panic!("expected one frame, got {frames:?}") };
    assert_eq!(frame.function, "work");
    assert_eq!(file_name(frame), Some(OsStr::new("plain.c")));
    assert_eq!(frame.line, Some(marker_line("plain.c", "work-call")));
    assert_eq!(frame.module, "plain");
    assert_eq!(frame.address, address);
}

#[test]
fn inlined_helper_is_a_frame_of_its_own_with_its_call_line() {
    assert_inline_chain_frames(&["-O2", "-g"]);
}

/// Debian's debug packages (libc6-dbg among them) ship compressed DWARF sections.
#[test]
fn compressed_debug_sections_resolve_as_plain_ones_do() {
    assert_inline_chain_frames(&["-O2", "-g", "-gz=zlib"]);
}

/// Builds `inline_chain.cpp` with `flags` and requires its inlined call to resolve to
/// the helper and its caller, each with its call line, and no warning.
fn assert_inline_chain_frames(flags: &[&str]) {
    let dir = TempDir::new().unwrap();
    let binary = build_c(dir.path(), "g++", "inline_chain.cpp", flags);
    let report = run_fixture(&binary);
    let address = report.address("inline");
    let symbolizer = Symbolizer::new(report.modules);

    let frames = resolve_one(&symbolizer, address);

    let file = Some(fixture_source("inline_chain.cpp").to_string_lossy().into_owned());
    let frame = |function: &str, marker| Frame {
        function: function.to_owned(),
        file: file.clone(),
        line: Some(marker_line("inline_chain.cpp", marker)),
        module: "inline_chain".to_owned(),
        address,
    };
    assert_eq!(frames, [frame("helper", "helper-call"), frame("ns::outer(int)", "outer-call")]);
    assert!(symbolizer.warnings().is_empty(), "{:?}", symbolizer.warnings());
}

#[test]
fn file_and_line_agree_with_binutils_addr2line() {
    let dir = TempDir::new().unwrap();
    let binary = build_c(dir.path(), "g++", "inline_chain.cpp", &["-O2", "-g"]);
    let report = run_fixture(&binary);
    let address = report.address("inline");
    let call = address - report.module_of(address).load_bias - 1;
    let symbolizer = Symbolizer::new(report.modules);

    let frames = resolve_one(&symbolizer, address);

    let binutils = run(Command::new("addr2line")
        .args(["-f", "-i", "-C", "-e"])
        .arg(&binary)
        .arg(format!("{call:#x}")));
    let lines: Vec<&str> = binutils.lines().collect();
    let expected: Vec<(&str, String)> = lines
        .chunks(2)
        .map(|pair| {
            // "file:line" or "file:line (discriminator N)"
            let location = pair[1].split(" (").next().unwrap_or(pair[1]);
            (pair[0], location.to_owned())
        })
        .collect();
    let ours: Vec<(&str, String)> = frames
        .iter()
        .map(|frame| {
            let location = format!("{}:{}", frame.file.as_deref().unwrap(), frame.line.unwrap());
            (frame.function.as_str(), location)
        })
        .collect();
    assert_eq!(ours.len(), expected.len(), "ours {ours:?}, binutils {expected:?}");
    for (ours, binutils) in ours.iter().zip(&expected) {
        assert_eq!(ours.1, binutils.1);
    }
    // binutils names an inlined frame after the symbol-table function that contains it, so
    // only the outermost frame's name is comparable.
    assert_eq!(ours.last().unwrap().0, expected.last().unwrap().0);
}

#[test]
fn rust_function_names_are_demangled() {
    let dir = TempDir::new().unwrap();
    let report_o = report_object(dir.path());
    let binary = dir.path().join("fixture");
    run(Command::new("rustc")
        .args(["-g", "--edition", "2021", "--crate-name", "fixture", "-C"])
        .arg(format!("link-arg={}", report_o.display()))
        .arg(fixture_source("rust_fixture.rs"))
        .arg("-o")
        .arg(&binary));
    let report = run_fixture(&binary);
    let address = report.address("make_vec");
    let symbolizer = Symbolizer::new(report.modules);

    let frames = resolve_one(&symbolizer, address);

    let [frame] = &frames[..] else { panic!("expected one frame, got {frames:?}") };
    assert_eq!(frame.function, "fixture::make_vec");
    assert_eq!(file_name(frame), Some(OsStr::new("rust_fixture.rs")));
    assert_eq!(frame.line, Some(marker_line("rust_fixture.rs", "make-vec-call")));
    assert_eq!(frame.module, "fixture");
}

/// A stripped fixture in `dir`, run, with its debug file installed by build id under
/// `dir/debug-root`: (binary, report, the address of `work`, the debug root).
fn stripped_with_build_id_debug(dir: &Path) -> (PathBuf, Report, u64, PathBuf) {
    let (binary, debug) = stripped_plain(dir, false);
    let report = run_fixture(&binary);
    let address = report.address("work");
    let debug_root = dir.join("debug-root");
    install_by_build_id(&debug, report.module_of(address), &debug_root);
    (binary, report, address, debug_root)
}

#[test]
fn stripped_binary_uses_debug_file_found_by_build_id() {
    let dir = TempDir::new().unwrap();
    let (_binary, report, address, debug_root) = stripped_with_build_id_debug(dir.path());
    let symbolizer = Symbolizer::new(report.modules).with_debug_dirs(vec![debug_root]);

    assert_is_work_frame(&resolve_one(&symbolizer, address), address);
    assert!(symbolizer.warnings().is_empty(), "{:?}", symbolizer.warnings());
}

#[test]
fn stripped_binary_uses_debug_file_found_by_debuglink() {
    let dir = TempDir::new().unwrap();
    let (binary, debug) = stripped_plain(dir.path(), true);
    // The debug link is also searched in the binary's `.debug/` subdirectory.
    let debug_subdir = dir.path().join(".debug");
    fs::create_dir(&debug_subdir).unwrap();
    fs::rename(&debug, debug_subdir.join("plain.debug")).unwrap();
    let report = run_fixture(&binary);
    let address = report.address("work");
    let empty_root = dir.path().join("no-build-ids");
    let symbolizer = Symbolizer::new(report.modules).with_debug_dirs(vec![empty_root]);

    assert_is_work_frame(&resolve_one(&symbolizer, address), address);
    assert!(symbolizer.warnings().is_empty(), "{:?}", symbolizer.warnings());
}

#[test]
fn deleted_binary_still_resolves_through_its_recorded_build_id() {
    let dir = TempDir::new().unwrap();
    let (binary, report, address, debug_root) = stripped_with_build_id_debug(dir.path());
    fs::remove_file(&binary).unwrap();
    let symbolizer = Symbolizer::new(report.modules).with_debug_dirs(vec![debug_root]);

    assert_is_work_frame(&resolve_one(&symbolizer, address), address);
    let warnings = symbolizer.warnings();
    assert!(
        matches!(warnings[..], [SymbolWarning::Open { path, .. }] if *path == binary),
        "{warnings:?}"
    );
}

#[test]
fn debuglink_target_with_wrong_crc_is_not_used() {
    let dir = TempDir::new().unwrap();
    let (binary, debug) = stripped_plain(dir.path(), true);
    let mut bytes = fs::read(&debug).unwrap();
    bytes.push(0);
    fs::write(&debug, bytes).unwrap();
    let report = run_fixture(&binary);
    let address = report.address("work");
    let offset = address - report.module_of(address).load_bias;
    let symbolizer = Symbolizer::new(report.modules).with_debug_dirs(Vec::new());

    let frames = resolve_one(&symbolizer, address);

    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].function, format!("plain+{offset:#x}"));
    assert_eq!((frames[0].file.as_deref(), frames[0].line), (None, None));
    let warnings = symbolizer.warnings();
    assert!(
        matches!(warnings[0], SymbolWarning::DebugLinkCrcMismatch { path, .. } if *path == debug),
        "{warnings:?}"
    );
}

#[test]
fn build_id_mismatch_distrusts_the_file_on_disk() {
    let dir = TempDir::new().unwrap();
    let binary = build_c(dir.path(), "gcc", "plain.c", &["-O0", "-g"]);
    let mut report = run_fixture(&binary);
    let address = report.address("work");
    let exe = report.modules.iter_mut().find(|module| module.path == binary).unwrap();
    exe.build_id = Some(vec![0xde, 0xad, 0xbe, 0xef]);
    let offset = address - exe.load_bias;
    let symbolizer = Symbolizer::new(report.modules).with_debug_dirs(Vec::new());

    let frames = resolve_one(&symbolizer, address);

    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].function, format!("plain+{offset:#x}"));
    assert_eq!(frames[0].module, "plain");
    let warnings = symbolizer.warnings();
    assert!(
        matches!(warnings[..], [SymbolWarning::BuildIdMismatch { path, recorded, .. }]
            if *path == binary && recorded == &[0xde, 0xad, 0xbe, 0xef]),
        "{warnings:?}"
    );
    assert!(warnings[0].to_string().contains("deadbeef"), "{}", warnings[0]);
}

#[test]
fn stripped_libc_function_is_named_from_its_dynamic_symbols() {
    let dir = TempDir::new().unwrap();
    let binary = build_c(dir.path(), "gcc", "plain.c", &["-O0", "-g"]);
    let report = run_fixture(&binary);
    let address = report.address("qsort");
    let libc = report.module_of(address).path.clone();
    // Without debug directories, an installed libc debug package cannot be found either.
    let symbolizer = Symbolizer::new(report.modules).with_debug_dirs(Vec::new());

    let frames = resolve_one(&symbolizer, address);

    let [frame] = &frames[..] else { panic!("expected one frame, got {frames:?}") };
    assert_eq!(frame.function, "qsort");
    assert_eq!(frame.module, libc.file_name().unwrap().to_string_lossy());
    assert_eq!((frame.file.as_deref(), frame.line), (None, None));
    let warnings = symbolizer.warnings();
    assert!(
        matches!(warnings[..], [SymbolWarning::NoDebugInfo { path }] if *path == libc),
        "{warnings:?}"
    );
}

#[test]
fn cpp_names_from_the_symbol_table_are_demangled() {
    let dir = TempDir::new().unwrap();
    let binary = build_c(dir.path(), "g++", "inline_chain.cpp", &["-O2", "-g0"]);
    let report = run_fixture(&binary);
    let address = report.address("inline");
    let symbolizer = Symbolizer::new(report.modules).with_debug_dirs(Vec::new());

    let frames = resolve_one(&symbolizer, address);

    let [frame] = &frames[..] else { panic!("expected one frame, got {frames:?}") };
    assert_eq!(frame.function, "ns::outer(int)");
    assert_eq!((frame.file.as_deref(), frame.line), (None, None));
}

#[test]
fn address_outside_every_module_is_reported_as_such() {
    let text_segment = 0x11000..0x12000;
    let symbolizer = Symbolizer::new(vec![ModuleRef {
        path: PathBuf::from("/nonexistent/libgone.so"),
        build_id: None,
        load_bias: 0x10000,
        ranges: vec![text_segment],
    }]);

    let frames = symbolizer.resolve(&[0x42, 0x42, 0x12000]);

    assert_eq!(frames.len(), 2);
    assert_eq!(
        frames[&0x42],
        [Frame {
            function: "??+0x42".to_owned(),
            file: None,
            line: None,
            module: "?".to_owned(),
            address: 0x42,
        }]
    );
    assert_eq!(frames[&0x12000][0].function, "??+0x12000", "ranges are half-open");
    assert!(symbolizer.warnings().is_empty(), "no module was loaded");
}

#[test]
fn repeated_resolution_answers_from_the_cache() {
    let dir = TempDir::new().unwrap();
    let binary = build_c(dir.path(), "gcc", "plain.c", &["-O0", "-g"]);
    let report = run_fixture(&binary);
    let addresses = [report.address("work"), report.address("qsort"), 0x42];
    let symbolizer = Symbolizer::new(report.modules);

    let first = symbolizer.resolve(&addresses);
    let second = symbolizer.resolve(&addresses[..1]);

    assert_eq!(first.len(), 3);
    assert_eq!(second[&addresses[0]], first[&addresses[0]]);
}

#[test]
fn symbolizer_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Symbolizer>();
}
