//! How reports name and cut stacks: allocation wrappers hidden with the allocator
//! (`wrappers.c`, and jq's `jv_mem_alloc`), C++ names shortened (the benchmarks' map
//! workload), filters on functions, files and modules (`filters.c`). Fixtures are in
//! `tests/fixtures/names`. Stacks cut at `--max-frames` end in a marker (`deep.c`).

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{build_file, installed, memscope, record, record_with, text, Recording};
use serde_json::Value;

fn names_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/names").join(name)
}

/// `wrappers.c` recorded once per test process.
fn wrappers() -> &'static Recording {
    static RUN: OnceLock<Recording> = OnceLock::new();
    RUN.get_or_init(|| record(&build_file(&names_fixture("wrappers.c"), &["-O0"]), &[] as &[&str]))
}

/// `memscope REPORT TRACE --json OPTIONS`, which must succeed.
fn report(report: &str, trace: &Path, options: &[&str]) -> Value {
    let trace = trace.to_str().expect("a UTF-8 path");
    let output = memscope(&[&[report, trace, "--json"], options].concat());
    assert!(output.status.success(), "memscope {report} {options:?}: {}", text(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("JSON")
}

/// `top`'s rows as (function, flat) pairs, for the rows with a flat value.
fn top_flat(trace: &Path, options: &[&str]) -> Vec<(String, i64)> {
    let top = report("top", trace, &[&["-n", "0"], options].concat());
    let rows = top["rows"].as_array().expect("rows");
    rows.iter()
        .filter(|row| row["flat"] != 0)
        .map(|row| (row["function"].as_str().expect("function").to_owned(), int(&row["flat"])))
        .collect()
}

fn int(value: &Value) -> i64 {
    value.as_i64().unwrap_or_else(|| panic!("{value} is not an integer"))
}

/// The flat value of `function`'s row, if it has one.
fn flat_of(rows: &[(String, i64)], function: &str) -> Option<i64> {
    rows.iter().find(|(name, _)| name == function).map(|&(_, flat)| flat)
}

#[test]
fn top_s_first_row_is_the_caller_of_xmalloc() {
    let rows = top_flat(&wrappers().trace, &[]);

    assert_eq!(rows[0], ("make_name".to_owned(), 3000), "{rows:?}");
    assert_eq!(flat_of(&rows, "xmalloc"), None, "{rows:?}");
    assert_eq!(flat_of(&rows, "pool_take"), Some(2048), "not built in: {rows:?}");
}

/// The recorder's stacks start at malloc's caller, so with `--keep-frames` the wrapper
/// holds the flat value.
#[test]
fn keep_frames_still_shows_the_wrapper() {
    let top = report("top", &wrappers().trace, &["-n", "0", "--keep-frames"]);
    let rows = top["rows"].as_array().expect("rows");
    let row = |function: &str| {
        let row = rows.iter().find(|row| row["function"] == function);
        row.map(|row| (int(&row["flat"]), int(&row["cum"])))
    };

    assert_eq!(row("xmalloc"), Some((3000, 3000)), "{top:#}");
    assert_eq!(row("make_name"), Some((0, 3000)), "{top:#}");
    assert_eq!(row("pool_take"), Some((2048, 2048)), "{top:#}");
}

#[test]
fn alloc_fn_hides_a_wrapper_it_names() {
    let trace = &wrappers().trace;
    let rows = top_flat(trace, &["--alloc-fn", "^pool_take$"]);

    assert_eq!(flat_of(&rows, "make_table"), Some(2048), "{rows:?}");
    assert_eq!(flat_of(&rows, "pool_take"), None, "{rows:?}");
    assert_eq!(rows[0], ("make_name".to_owned(), 3000), "{rows:?}");
    let leaks = report("leaks", trace, &["--alloc-fn", "nothing", "--alloc-fn", "^pool_"]);
    let table = leaks.as_array().expect("rows").iter().find(|row| row["bytes"] == 2048);
    let stack = table.map(|row| row["stack"][0]["function"].clone());
    assert_eq!(stack, Some(Value::from("make_table")), "{leaks:#}");
}

#[test]
fn a_bad_alloc_fn_is_one_line() {
    let trace = wrappers().trace.to_str().expect("a UTF-8 path");
    let output = memscope(&["top", trace, "--alloc-fn", "pool_(take"]);
    common::assert_one_line_error(&output, "invalid alloc-fn regex `pool_(take`: unclosed group");
}

#[test]
fn jq_s_first_row_is_not_its_allocation_wrapper() {
    let Some(jq) = installed("/usr/bin/jq") else { return };
    let input = names_fixture("small.json");
    let run = record(&jq, &[".".as_ref(), input.as_os_str()]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    let kept = top_flat(&run.trace, &["--by", "alloc_space", "--keep-frames"]);
    assert_eq!(kept[0].0, "jv_mem_alloc", "the wrapper is first when kept: {kept:?}");
    let rows = top_flat(&run.trace, &["--by", "alloc_space"]);

    for wrapper in ["jv_mem_alloc", "jv_mem_calloc", "jv_mem_realloc"] {
        assert_eq!(flat_of(&rows, wrapper), None, "{rows:?}");
    }
    let total = |rows: &[(String, i64)]| rows.iter().map(|&(_, flat)| flat).sum::<i64>();
    assert_eq!(total(&rows), total(&kept), "the same bytes, at the wrappers' callers");
}

/// `bench/map_workload.cpp` (a std::map of strings to vectors and a std::unordered_map)
/// recorded once per test process, 3000 steps.
fn map_workload() -> &'static Recording {
    static RUN: OnceLock<Recording> = OnceLock::new();
    RUN.get_or_init(|| {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/map_workload.cpp");
        let run = record(&build_file(&source, &["-O2"]), &["3000"]);
        assert_eq!(run.code(), Some(0), "{}", run.stderr());
        run
    })
}

/// `memscope ARGS` as text, which must succeed.
fn report_text(args: &[&str]) -> String {
    let output = memscope(args);
    assert!(output.status.success(), "memscope {args:?}: {}", text(&output.stderr));
    text(&output.stdout)
}

fn longest_line(text: &str) -> usize {
    text.lines().map(|line| line.chars().count()).max().unwrap_or(0)
}

#[test]
fn cpp_names_of_the_map_workload_fit_in_200_characters() {
    let trace = map_workload().trace.to_str().expect("a UTF-8 path");
    for args in [
        &["top", trace][..],
        &["top", trace, "--peak", "-n", "0"],
        &["leaks", trace],
        &["leaks", trace, "-n", "0"],
        &["peak", trace, "-n", "0"],
    ] {
        let report = report_text(args);
        assert!(longest_line(&report) <= 200, "memscope {args:?}:\n{report}");
    }
    let top = report_text(&["top", trace, "--peak", "-n", "0"]);
    assert!(top.contains("  std::_Rb_tree<…>::_M_get_node /usr/include/"), "{top}");
}

#[test]
fn full_names_show_template_arguments_and_parameters() {
    let trace = map_workload().trace.to_str().expect("a UTF-8 path");
    let top = report_text(&["top", trace, "--peak", "-n", "0", "--full-names"]);

    let node = "  std::_Rb_tree<std::__cxx11::basic_string<char, std::char_traits<char>, \
                std::allocator<char> >, std::pair<std::__cxx11::basic_string<char, \
                std::char_traits<char>, std::allocator<char> > const, std::vector<int, \
                std::allocator<int> > >,";
    assert!(top.contains(node), "{top}");
    assert!(top.contains(">::_M_get_node() /usr/include/"), "{top}");
    assert!(longest_line(&top) > 200, "the names are whole: {top}");
}

/// `filters.c` with `filters_part.c`, recorded once per test process.
fn filters() -> &'static Recording {
    static RUN: OnceLock<Recording> = OnceLock::new();
    RUN.get_or_init(|| {
        let part = names_fixture("filters_part.c");
        let binary = build_file(&names_fixture("filters.c"), &["-O0", part.to_str().unwrap()]);
        record(&binary, &[] as &[&str])
    })
}

/// `top`'s total and flat rows with `options`, on `filters.c`.
fn filtered(options: &[&str]) -> (i64, Vec<(String, i64)>) {
    let trace = &filters().trace;
    let top = report("top", trace, options);
    (int(&top["total"]), top_flat(trace, options))
}

#[test]
fn focus_and_ignore_match_source_files() {
    let (total, rows) = filtered(&["--focus", r"filters_part\.c"]);
    assert_eq!((total, rows), (700, vec![("part_alloc".to_owned(), 700)]));

    let (total, rows) = filtered(&["--ignore", r"/filters_part\.c$"]);
    assert_eq!((total, rows), (300, vec![("main_alloc".to_owned(), 300)]));
}

#[test]
fn focus_and_ignore_match_modules() {
    let (everything, _) = filtered(&[]);
    assert_eq!(everything, 1000);
    let (total, _) = filtered(&["--focus", "^filters-[0-9a-f]+$"]);
    assert_eq!(total, 1000, "every stack has a frame in the program");

    let (total, rows) = filtered(&["--ignore", r"^libc\.so\.6$"]);
    assert_eq!((total, rows), (0, vec![]), "every stack starts in libc");
}

/// `deep.c` recorded with `OPTIONS`; its leaks as (bytes, functions of the stack).
fn deep_leaks(options: &[&str]) -> Vec<(u64, Vec<String>)> {
    let run = record_with(options, &build_file(&names_fixture("deep.c"), &["-O0"]), &[] as &[&str]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    let mut leaks: Vec<(u64, Vec<String>)> = run
        .leaks()
        .into_iter()
        .map(|leak| (leak.bytes, leak.stack.into_iter().map(|frame| frame.function).collect()))
        .collect();
    leaks.sort();
    leaks
}

#[test]
fn a_stack_cut_at_max_frames_ends_in_a_marker() {
    let leaks = deep_leaks(&["--max-frames", "6"]);
    let (bytes, main) = &leaks[0];
    assert_eq!((*bytes, main.first().map(String::as_str)), (256, Some("main")), "{leaks:?}");
    assert_eq!(main.last().map(String::as_str), Some("_start"), "not cut: {leaks:?}");

    let mut deep = vec!["descend"; 6];
    deep.push("[truncated at 6 frames]");
    assert_eq!(leaks[1], (512, deep.iter().map(|f| f.to_string()).collect()), "{leaks:?}");
}

#[test]
fn a_stack_under_the_limit_has_no_marker() {
    let leaks = deep_leaks(&[]);
    let (bytes, deep) = &leaks[1];
    assert_eq!(*bytes, 512);
    assert_eq!(deep.iter().filter(|f| *f == "descend").count(), 21, "{deep:?}");
    assert_eq!(deep.last().map(String::as_str), Some("_start"), "{deep:?}");
}

#[test]
fn exports_end_a_cut_stack_in_the_marker() {
    let program = build_file(&names_fixture("deep.c"), &["-O0"]);
    let run = record_with(&["--max-frames", "3"], &program, &[] as &[&str]);
    let folded = run.dir.path().join("deep.folded");
    let trace = run.trace.to_str().expect("a UTF-8 path");
    let out = folded.to_str().expect("a UTF-8 path");
    report_text(&["export", trace, "--format", "collapsed", "-o", out]);

    let text = std::fs::read_to_string(&folded).expect("the collapsed stacks");
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "[truncated at 3 frames];__libc_start_main_impl;__libc_start_call_main;main 256",
            "[truncated at 3 frames];descend;descend;descend 512",
        ]
    );
}
